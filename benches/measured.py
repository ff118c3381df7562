"""Where a benchmark leaves its figures.

A run with the benchmark's default options is the one the README quotes: its
figures go to ``benches/measured/<name>.json`` (tracked) and
``benches/figures.py`` rewrites the README's block from them at once. A run
with other options goes to ``benches/results/<name>.json`` (ignored), so a
quick look at small sizes never replaces a quoted figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from symphony_lab.runs.record import finite

HERE = Path(__file__).resolve().parent


def _commit() -> str:
    """The short commit the figures were measured on, ``-dirty`` when the
    code had changes (the figures then belong to no commit exactly)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(HERE.parent), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short=7", "HEAD")
        # The figures and the pages they are rendered into change as benchmarks
        # run: not a change of the code.
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                    ":!benches/measured", ":!README.md", ":!docs")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _non_default(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    return [
        a.dest
        for a in parser._actions
        if a.dest != "help" and getattr(args, a.dest, a.default) != a.default
    ]


def record(
    name: str,
    figures: dict[str, Any],
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
) -> Path:
    """Writes ``figures`` with when and where they were measured, and
    returns the file; with default options, also rewrites the README."""
    changed = _non_default(parser, args)
    folder = HERE / ("results" if changed else "measured")
    folder.mkdir(exist_ok=True)
    data = {
        "bench": name,
        "date": time.strftime("%Y-%m-%d"),
        "commit": _commit(),
        "cores": os.cpu_count(),
        "options": {k: v for k, v in vars(args).items() if k != "func"},
        **figures,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(finite(data), indent=1, allow_nan=False, default=str) + "\n")
    if changed:
        print(f"\nfigures: {path} (options {', '.join(changed)} differ from the defaults, "
              "so the README keeps its figures)")  # fmt: skip
    else:
        subprocess.run([sys.executable, str(HERE / "figures.py")], check=True)
        print(f"\nfigures: {path}; README.md rewritten from it")
    return path
