"""The virtual DOM diff against the same algorithm in pure Python.

A 1,000-element tree (100 keyed rows of 9 cells, under one root) and the
same tree with 5% changed: 45 cell values, one row moved, one inserted,
one removed. Medians over renders alternating between the two:

- ours: ``Vdom.render_json`` of trees built with ``h`` (the patches come
  back as the JSON text a widget sends); and the same with the new tree
  built inside the timing (building is where props become JSON values);
- the peer: a pure-Python keyed diff (same matching, longest increasing
  run for moves) over trees of dicts, returning the patch list.

Target: ours, including the build, <= 0.5 ms.
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
import sys
import time
from typing import Any

from symphony_lab.pit import Vdom, h

ROWS, CELLS = 100, 9


def cells(changed: bool) -> list[tuple[str, list[int]]]:
    rows = []
    for i in range(ROWS):
        values = [
            i * 100 + j + (1 if changed and (i * CELLS + j) % 20 == 0 else 0) for j in range(CELLS)
        ]
        rows.append((f"row{i}", values))
    if changed:
        rows[3], rows[60] = rows[60], rows[3]
        del rows[10]
        rows.insert(20, ("new", [0] * CELLS))
    return rows


def build(rows: list[tuple[str, list[int]]]) -> Any:
    return h(
        "div",
        None,
        [
            h("div", {"class": "row"}, [h("span", {"value": v}) for v in values], key=key)
            for key, values in rows
        ],
    )


def build_dicts(rows: list[tuple[str, list[int]]]) -> dict[str, Any]:
    def node(kind: str, props: dict[str, Any], children: list[Any], key: str | None = None) -> dict:
        return {"type": kind, "key": key, "props": props, "children": children}

    return node(
        "div",
        {},
        [
            node("div", {"class": "row"}, [node("span", {"value": v}, []) for v in values], key)
            for key, values in rows
        ],
    )


class PyVdom:
    """The peer: the same diff, in Python, over dicts (ids kept in them)."""

    def __init__(self) -> None:
        self.root: dict[str, Any] | None = None
        self.next_id = 1

    def mount(self, n: dict[str, Any]) -> dict[str, Any]:
        m = dict(n, id=self.next_id)
        self.next_id += 1
        m["children"] = [self.mount(c) for c in n["children"]]
        return m

    def render(self, n: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        old = self.root
        if old is not None and old["type"] == n["type"] and old["key"] == n["key"]:
            self.root = self.patch(old, n, out)
        else:
            if old is not None:
                out.append({"op": "remove", "id": old["id"]})
            self.root = self.mount(n)
            out.append({"op": "create", "parent": None, "before": None, "node": self.root})
        return out

    def patch(self, old: dict, n: dict, out: list) -> dict:
        if old["props"] != n["props"]:
            set_ = {k: v for k, v in n["props"].items() if old["props"].get(k) != v}
            unset = [k for k in old["props"] if k not in n["props"]]
            out.append({"op": "props", "id": old["id"], "set": set_, "unset": unset})
        children = self.patch_children(old["id"], old["children"], n["children"], out)
        return {**n, "id": old["id"], "children": children}

    def patch_children(self, parent: int, old: list, new: list, out: list) -> list:
        if len(old) == len(new) and all(
            o["type"] == c["type"] and o["key"] == c["key"] for o, c in zip(old, new, strict=True)
        ):
            return [self.patch(o, c, out) for o, c in zip(old, new, strict=True)]
        slot = {(o["key"] if o["key"] is not None else i): i for i, o in enumerate(old)}
        matched: list[int | None] = []
        for j, c in enumerate(new):
            i = slot.get(c["key"] if c["key"] is not None else j)
            matched.append(i if i is not None and old[i]["type"] == c["type"] else None)
        taken = {i for i in matched if i is not None}
        out.extend({"op": "remove", "id": o["id"]} for i, o in enumerate(old) if i not in taken)
        stay = longest_increasing(matched)
        result: list[Any] = [None] * len(new)
        before = None
        for j in range(len(new) - 1, -1, -1):
            i = matched[j]
            if i is not None:
                m = self.patch(old[i], new[j], out)
                if not stay[j]:
                    out.append({"op": "move", "id": m["id"], "parent": parent, "before": before})
            else:
                m = self.mount(new[j])
                out.append({"op": "create", "parent": parent, "before": before, "node": m})
            before = m["id"]
            result[j] = m
        return result


def longest_increasing(matched: list[int | None]) -> list[bool]:
    tails: list[int] = []
    tail_values: list[int] = []
    prev: list[int | None] = [None] * len(matched)
    for j, v in enumerate(matched):
        if v is None:
            continue
        at = bisect.bisect_left(tail_values, v)
        if at > 0:
            prev[j] = tails[at - 1]
        if at == len(tails):
            tails.append(j)
            tail_values.append(v)
        else:
            tails[at] = j
            tail_values[at] = v
    stay = [False] * len(matched)
    cur = tails[-1] if tails else None
    while cur is not None:
        stay[cur] = True
        cur = prev[cur]
    return stay


def median_ms(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=400)
    args = parser.parse_args(argv)
    plain, changed = cells(False), cells(True)
    trees = [build(plain), build(changed)]
    assert len(trees[0]) == 1 + ROWS * (1 + CELLS) == 1001

    ours = Vdom()
    ours.render_json(trees[0])
    flip = [0]

    def render_prebuilt() -> None:
        flip[0] ^= 1
        ours.render_json(trees[flip[0]])

    def render_with_build() -> None:
        flip[0] ^= 1
        ours.render_json(build(changed if flip[0] else plain))

    dicts = [build_dicts(plain), build_dicts(changed)]
    peer = PyVdom()
    peer.render(dicts[0])

    def render_peer() -> None:
        flip[0] ^= 1
        peer.render(dicts[flip[0]])

    # Same patches from both, by kind.
    check, py_check = Vdom(), PyVdom()
    check.render(trees[0])
    py_check.render(dicts[0])
    ours_ops = sorted(p["op"] for p in json.loads(check.render_json(trees[1])))
    peer_ops = sorted(p["op"] for p in py_check.render(dicts[1]))
    assert ours_ops == peer_ops, (ours_ops, peer_ops)

    prebuilt = median_ms(render_prebuilt, args.renders)
    with_build = median_ms(render_with_build, args.renders)
    py = median_ms(render_peer, args.renders)
    print(
        f"Render of a 1,001-node tree, 5% changed ({len(ours_ops)} patches);"
        f" median of {args.renders}"
    )
    print(f"  ours, tree built beforehand      {prebuilt:8.3f} ms")
    print(f"  ours, building the tree included {with_build:8.3f} ms")
    print(f"  pure Python over dicts (peer)    {py:8.3f} ms")
    print(
        f"  ratio ours / peer: {prebuilt / py:.3f}x (diff alone),"
        f" {with_build / py:.3f}x (with build)"
    )
    good = with_build <= 0.5
    print(
        f"  [{'PASS' if good else 'FAIL'}] ours including the build:"
        f" {with_build:.3f} ms (<= 0.5 ms)"
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
