"""Writes ``docs/reference/cli.md`` from the ``--help`` of every ``symphony``
command, so that the reference says what the code does.

    python docs/cli_reference.py            rewrite the page
    python docs/cli_reference.py --check    exit 1 when the page is stale (the suite)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from symphony_lab.cli import app  # with the commands of other packages joined

PAGE = Path(__file__).parent / "reference" / "cli.md"
# A fixed width and no colour: the text is the same on every machine.
ENV = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}

HEADER = """# Command line

`symphony` is installed with symphony-lab (`.venv/bin/symphony`). Every command checks
its arguments before it does any work: a user error prints one line and exits with
status 1, a malformed command line exits with status 2. Packages add commands through
the `symphony_lab.cli` entry-point group (Function Quest adds `quest`).

This page is generated from each command's `--help` (`python docs/cli_reference.py`);
the suite checks that it matches.
"""


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's path under ``group`` (a click-like command), in the
    order ``--help`` lists them."""
    out = [path]
    if hasattr(group, "list_commands"):
        ctx = type(group).context_class(group)
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if sub is not None and not getattr(sub, "hidden", False):
                out += commands(sub, (*path, name))
    return out


def help_text(path: tuple[str, ...]) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "symphony"), *path, "--help"],
        capture_output=True, text=True, env=ENV, check=True,
    )  # fmt: skip
    return "\n".join(line.rstrip() for line in done.stdout.strip("\n").splitlines()).strip("\n")


def render() -> str:
    parts = [HEADER]
    for path in commands(typer.main.get_command(app)):
        title = " ".join(("symphony", *path))
        parts.append(f"## `{title}`\n\n```text\n{help_text(path)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    text = render()
    if sys.argv[1:] == ["--check"]:
        if PAGE.read_text() != text:
            print(f"{PAGE} is stale: run python docs/cli_reference.py", file=sys.stderr)
            sys.exit(1)
    else:
        PAGE.write_text(text)
