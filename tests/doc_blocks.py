"""The examples of a Markdown page, and a runner that runs them in order.

``python tests/doc_blocks.py PAGE.md`` runs every ``python`` and ``bash``
block of the page in the order written, in this fresh interpreter: Python
blocks share one namespace (top-level ``await`` works, as in a notebook), and
each bash block runs in its own shell in the same working folder. A block
right after ``<!-- not run: why -->`` is left out; the suite counts those.
The first failing block stops the page, named by its line.
"""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[\w+-]*)")
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<why>.+?)\s*-->")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, first line (1-based), text, and why not
    run (``None``: it runs)."""

    lang: str
    line: int
    code: str
    not_run: str | None


def blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` in the languages that run."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:])
            i += 1
        i += 1
        lang = RUN.get(m["info"].lower())
        if lang is None:
            continue
        before = next((ln for ln in reversed(lines[: start - 1]) if ln.strip()), "")
        marker = NOT_RUN.search(before)
        why = marker["why"] if marker else None
        out.append(Block(lang, start + 1, "\n".join(body) + "\n", why))
    return out


def run_python(block: Block, namespace: dict[str, Any], page: str) -> None:
    code = compile(block.code, f"{page}:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # the page's own example, on purpose
    if asyncio.iscoroutine(result):
        namespace["__loop__"].run_until_complete(result)


def run_page(path: Path) -> int:
    """Runs the page's blocks; 0 when all pass, 1 at the first failure."""
    page = str(path)
    namespace: dict[str, Any] = {"__name__": "__main__", "__loop__": asyncio.new_event_loop()}
    asyncio.set_event_loop(namespace["__loop__"])
    for block in blocks(path.read_text(encoding="utf-8")):
        if block.not_run is not None:
            continue
        print(f"--- {page}:{block.line} ({block.lang})", flush=True)
        if block.lang == "python":
            try:
                run_python(block, namespace, page)
            except BaseException:
                traceback.print_exc()
                print(f"FAILED: the python block at {page}:{block.line}", file=sys.stderr)
                return 1
        else:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code])
            if done.returncode != 0:
                print(
                    f"FAILED: the bash block at {page}:{block.line} exited {done.returncode}",
                    file=sys.stderr,
                )
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_page(Path(sys.argv[1]).resolve()))
