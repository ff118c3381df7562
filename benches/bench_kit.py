"""Orchestra Kit: resolution against resolvelib, install against pip, and search.

- Resolution: a synthetic registry of ``--packages`` packages x ``--versions``
  versions, each version needing up to three later packages (a floor, or the
  current major);
  a request of five packages, once satisfiable and once with an unsatisfiable
  core (two requested packages need disjoint majors of one package, through a
  chain). Ours: ``PackageIndex`` built and solved (PubGrub in the Pit). Peer:
  resolvelib (pip's resolver) with a provider over the same data, matches
  cached. Medians over ``--repeat``; the ratio is ours / peer.
- Install: a signed 200-file package into a fresh home (``Kit.install``, and
  ``symphony kit install`` as a command) against ``pip install --no-index
  --no-deps --target`` of a wheel with the same files.
- Search: the median of 50 queries over ``--search-packages`` packages in a
  registry's SQLite FTS5 index.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import resolvelib
from measured import record

from symphony_lab.kit import Keyring, Kit, keygen, pack, sign_package
from symphony_lab.kit.registry import RegistryStore
from symphony_lab.pit import PackageIndex, ResolutionError, kit_matches, kit_sort_versions

TARGET_RESOLVE = 0.2
TARGET_INSTALL = 1.0
TARGET_SEARCH_MS = 20.0

Registry = dict[str, dict[str, dict[str, str]]]


def synthetic(
    packages: int, versions: int, seed: int, conflict: bool
) -> tuple[Registry, dict[str, str]]:
    rng = random.Random(seed)
    names = [f"p{i:04d}" for i in range(packages)]
    newest = (versions - 1) // 5
    reg: Registry = {}
    for i, name in enumerate(names):
        reg[name] = {}
        for v in range(versions):
            major, minor = divmod(v, 5)
            deps: dict[str, str] = {}
            later = names[i + 1 : i + 60]
            # As registries grow: a floor no newer than this release, or the
            # current major; the newest versions always fit together.
            for dep in rng.sample(later, min(len(later), rng.randint(0, 3))):
                if rng.random() < 0.3:
                    deps[dep] = f"^{newest}.0"
                else:
                    deps[dep] = f">={rng.randint(0, major)}.0"
            reg[name][f"{major}.{minor}.0"] = deps
    request = {names[k]: "*" for k in (0, 1, 2, 3, 4)}
    if conflict:
        # Every version of the first two requested packages reaches, through a
        # chain, a different major of one shared package: no solution.
        top = names[-1]
        for v in reg[names[0]]:
            reg[names[0]][v] = {names[-3]: "*"}
        for v in reg[names[1]]:
            reg[names[1]][v] = {names[-2]: "*"}
        for v in reg[names[-3]]:
            reg[names[-3]][v] = {top: "^0.0"}
        for v in reg[names[-2]]:
            reg[names[-2]][v] = {top: "^1.0"}
    return reg, request


def ours(reg: Registry, request: dict[str, str]) -> dict[str, str] | None:
    index = PackageIndex()
    index.extend((n, v, d) for n, vs in reg.items() for v, d in vs.items())
    try:
        return index.resolve(request)
    except ResolutionError:
        return None


class Provider(resolvelib.AbstractProvider):
    """resolvelib over the same registry; requirements are (name, range)."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.order = {n: kit_sort_versions(list(vs)) for n, vs in reg.items()}
        self.cache: dict[tuple[str, str, str], bool] = {}

    def _ok(self, req: tuple[str, str], version: str) -> bool:
        key = (req[0], req[1], version)
        if key not in self.cache:
            self.cache[key] = kit_matches(req[1], version)
        return self.cache[key]

    def identify(self, requirement_or_candidate: tuple[str, str]) -> str:
        return requirement_or_candidate[0]

    def get_preference(
        self,
        identifier: str,
        resolutions: Any,
        candidates: Any,
        information: Any,
        backtrack_causes: Any,
    ) -> Any:
        return sum(1 for _ in candidates[identifier])

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterable[tuple[str, str]]],
        incompatibilities: Mapping[str, Iterable[tuple[str, str]]],
    ) -> list[tuple[str, str]]:
        reqs = list(requirements[identifier])
        bad = {c[1] for c in incompatibilities[identifier]}
        return [
            (identifier, v)
            for v in reversed(self.order.get(identifier, []))
            if v not in bad and all(self._ok(r, v) for r in reqs)
        ]

    def is_satisfied_by(self, requirement: tuple[str, str], candidate: tuple[str, str]) -> bool:
        return self._ok(requirement, candidate[1])

    def get_dependencies(self, candidate: tuple[str, str]) -> list[tuple[str, str]]:
        return list(self.reg[candidate[0]][candidate[1]].items())


def peer(reg: Registry, request: dict[str, str], max_rounds: int) -> dict[str, str] | str | None:
    resolver = resolvelib.Resolver(Provider(reg), resolvelib.BaseReporter())
    try:
        result = resolver.resolve(list(request.items()), max_rounds=max_rounds)
    except resolvelib.ResolutionImpossible:
        return None
    except resolvelib.ResolutionTooDeep:
        return "gave up"
    return {k: v[1] for k, v in result.mapping.items()}


def _peer_timed(case: tuple[int, int, bool], max_rounds: int, out: Any) -> None:
    reg, request = synthetic(case[0], case[1], 7, case[2])
    start = time.perf_counter()
    answer = peer(reg, request, max_rounds)
    out.put((time.perf_counter() - start, answer))


def peer_capped(case: tuple[int, int, bool], max_rounds: int, cap_s: float) -> tuple[float, object]:
    """resolvelib in a child process, stopped after ``cap_s`` seconds: its
    backtracking on a conflict can run for many minutes."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_peer_timed, args=(case, max_rounds, out))
    child.start()
    try:
        took, answer = out.get(timeout=cap_s + 30)
    except queue.Empty:
        child.kill()
        child.join()
        return cap_s, f"no answer in {cap_s:.0f} s"
    child.join()
    return took, answer


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def resolution(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for case, conflict in (("satisfiable", False), ("unsatisfiable_core", True)):
        reg, request = synthetic(args.packages, args.versions, 7, conflict)
        t_ours, got = median_time(lambda r=reg, q=request: ours(r, q), args.repeat)
        runs = [
            peer_capped((args.packages, args.versions, conflict), args.max_rounds, args.peer_cap)
            for _ in range(max(1, args.repeat // 2))
        ]
        t_peer = statistics.median(t for t, _ in runs)
        theirs = runs[-1][1]
        if got is not None and isinstance(theirs, dict):
            assert all(kit_matches(r, got[n]) for n, r in request.items())
        solved = "solved" if got is not None else "no solution"
        peer_said = theirs if isinstance(theirs, str) else ("solved" if theirs else "no solution")
        print(
            f"resolve {case}: ours {t_ours * 1e3:.1f} ms ({solved}), "
            f"resolvelib {t_peer * 1e3:.1f} ms ({peer_said}): {t_ours / t_peer:.3f}x"
        )
        figures[case] = {
            "ours_s": t_ours,
            "resolvelib_s": t_peer,
            "ours": solved,
            "resolvelib": peer_said,
        }
    return figures


def _files(root: Path, n: int) -> None:
    for i in range(n):
        sub = root / f"mod{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:03d}.py").write_text(f"# file {i}\n" + "VALUE = " + repr("x" * 2000) + "\n")


def wheel(src: Path, out: Path) -> Path:
    """A wheel holding the files under ``src`` as package ``bench_ext``."""
    path = out / "bench_ext-1.0.0-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                arc = f"bench_ext/{f.relative_to(src).as_posix()}"
                data = f.read_bytes()
                z.writestr(arc, data)
                digest = (
                    base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                )
                records.append(f"{arc},sha256={digest},{len(data)}")
        info = "bench_ext-1.0.0.dist-info"
        meta = {
            f"{info}/METADATA": "Metadata-Version: 2.1\nName: bench_ext\nVersion: 1.0.0\n",
            f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n",
        }
        for arc, text in meta.items():
            z.writestr(arc, text)
            records.append(f"{arc},,")
        z.writestr(f"{info}/RECORD", "\n".join([*records, f"{info}/RECORD,,"]) + "\n")
    return path


def install(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    ext = tmp / "bench_ext"
    ext.mkdir()
    (ext / "symphony.toml").write_text(
        'name = "bench"\nversion = "1.0.0"\nkind = "operator"\nentry = "bench_ext"\n'
    )
    _files(ext, args.files - 1)
    keys = keygen(tmp / "keys", "bench")
    package = pack(ext, tmp / "channel")
    sign_package(package, keys.secret)
    whl = wheel(ext, tmp)
    ring = Keyring.of([keys.public])

    def api() -> None:
        home = Path(tempfile.mkdtemp(dir=tmp))
        Kit(home, keyring=ring, registries=[]).install(package, yes=True)

    def cli() -> None:
        home = Path(tempfile.mkdtemp(dir=tmp))
        shutil.copytree(tmp / "keys", home / "keys")
        (home / "keys" / "bench.key").unlink()
        (home / "keys" / "bench.pub").rename(home / "keys" / "trusted.pub")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "symphony_lab.cli",
                "kit",
                "install",
                str(package),
                "--yes",
                "--home",
                str(home),
            ],
            check=True,
            capture_output=True,
        )

    def pip() -> None:
        target = Path(tempfile.mkdtemp(dir=tmp))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-index",
                "--no-deps",
                "--no-compile",
                "--disable-pip-version-check",
                "--quiet",
                "--target",
                str(target),
                str(whl),
            ],
            check=True,
            capture_output=True,
        )

    t_api, _ = median_time(api, args.repeat)
    t_cli, _ = median_time(cli, args.repeat)
    t_pip, _ = median_time(pip, args.repeat)
    print(
        f"install {args.files} files: Kit.install {t_api * 1e3:.0f} ms, symphony kit install "
        f"{t_cli * 1e3:.0f} ms, pip install {t_pip * 1e3:.0f} ms: {t_api / t_pip:.3f}x (API), "
        f"{t_cli / t_pip:.3f}x (command)"
    )
    return {"files": args.files, "api_s": t_api, "cli_s": t_cli, "pip_s": t_pip}


def search(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    store = RegistryStore.create(tmp / "registry", "bench")
    rng = random.Random(3)
    vocab = [
        "text",
        "table",
        "image",
        "audio",
        "embed",
        "classify",
        "translate",
        "summarize",
        "parse",
        "render",
        "query",
        "index",
        "vector",
        "model",
        "token",
        "graph",
        "plot",
        "clean",
        "merge",
        "split",
    ]
    with store._db.transaction():
        for i in range(args.search_packages):
            words = rng.sample(vocab, 6)
            store._db.set_search(
                f"{words[0]}-{i}", " ".join(words[1:4]) + " tools", " ".join(words[4:])
            )
    queries = [" ".join(rng.sample(vocab, rng.randint(1, 2))) for _ in range(50)]
    times = []
    for q in queries:
        start = time.perf_counter()
        store._db.search(q, 20)
        times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1e3
    print(
        f"search {args.search_packages:,} packages: median {ms:.2f} ms, "
        f"max {max(times) * 1e3:.2f} ms"
    )
    store.close()
    return {"packages": args.search_packages, "median_ms": ms, "max_ms": max(times) * 1e3}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--max-rounds", type=int, default=20_000, help="resolvelib's give-up point")
    parser.add_argument(
        "--peer-cap", type=float, default=60.0, help="seconds resolvelib may take, at most"
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--search-packages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-kit-") as d:
        tmp = Path(d)
        figures = {
            "resolve": resolution(args),
            "install": install(args, tmp),
            "search": search(args, tmp),
        }
    r = figures["resolve"]
    worst = max(v["ours_s"] / v["resolvelib_s"] for v in r.values())
    inst = figures["install"]["api_s"] / figures["install"]["pip_s"]
    print(json.dumps({"resolve_worst_ratio": worst, "install_ratio": inst}))
    record("kit", figures, parser, args)
    ok = (
        worst <= TARGET_RESOLVE
        and inst <= TARGET_INSTALL
        and figures["search"]["median_ms"] <= TARGET_SEARCH_MS
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
