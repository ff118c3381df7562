"""Bad input to the ``symphony`` command line, checked before any work.

Each row runs the real command in a subprocess and checks its status (1: a
user error, 2: a usage error), that the message names the value and what was
expected, and that no traceback shows. ``{d}`` in a row is a folder holding
the files the rows need (see ``place``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

SYMPHONY = [sys.executable, "-m", "symphony_lab.cli"]

#: Extensions each wrong in one way: name -> (module source, symphony.toml after the header).
BAD_EXTENSIONS: dict[str, tuple[str, str]] = {
    "no-module": ("", '[[functions]]\nname = "f"\n'),
    "huge-memory": ("", "[resources]\nmemory_mb = 99999999999999\n"),
    "zero-cpu": ("", "[resources]\ncpu_seconds = 0\n"),
    "missing-fn": (
        "from symphony_lab.sdk import operator\n\n@operator\ndef f(x):\n    return x\n",
        '[[functions]]\nname = "f"\n\n[[functions]]\nname = "g"\n',
    ),
    "wrong-input": (
        "from symphony_lab.sdk import operator\n\n@operator\ndef shout(text):\n    return text\n",
        '[[functions]]\nname = "shout"\ninputs = { txt = "text" }\n',
    ),
    "schema-short": (
        "from symphony_lab.sdk import operator\n\n@operator\n"
        "def shout(text, times):\n    return text * times\n",
        '[[functions]]\nname = "shout"\n'
        'input_schema = { type = "object", properties = { text = { type = "string" } } }\n',
    ),
    "no-hook": (
        "from symphony_lab.sdk import operator\n\n@operator\ndef f(x):\n    return x\n",
        '[[functions]]\nname = "f"\n\n[hooks]\non_load = "start"\n',
    ),
    "wrong-kind": (
        "from symphony_lab.sdk import instrument\n\n@instrument\ndef f(x):\n    return x\n",
        '[[functions]]\nname = "f"\n',
    ),
    "import-fails": ("raise RuntimeError('no weights here')\n", '[[functions]]\nname = "f"\n'),
}


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    (d / "folder").mkdir()
    (d / "file.txt").write_text("not a folder\n")
    (d / "not-toml").mkdir()
    (d / "not-toml" / "symphony.toml").write_text("name = [\n")
    (d / "existing").mkdir()
    for name, (code, toml) in BAD_EXTENSIONS.items():
        folder = d / name
        folder.mkdir()
        module = name.replace("-", "_") + "_ext"
        if code:
            (folder / f"{module}.py").write_text(code)
        (folder / "symphony.toml").write_text(
            f'name = "{name}"\nversion = "0.1.0"\nkind = "operator"\nentry = "{module}"\n\n'
            + textwrap.dedent(toml)
        )
    return d


#: (arguments, exit status, what the message must say).
ROWS: list[tuple[str, int, str]] = [
    # symphony train
    (
        "train --steps lots",
        2,
        "Invalid value for '--steps': Input should be a valid integer, unable to parse "
        "string as an integer (got 'lots')",
    ),
    (
        "train --steps 0",
        2,
        "Invalid value for '--steps': Input should be greater than or equal to 1 (got '0')",
    ),
    ("train --envs 100000", 2, "'--envs': Input should be less than or equal to 64 (got '100000')"),
    ("train --envs 0", 2, "'--envs': Input should be greater than or equal to 1 (got '0')"),
    ("train --threads 0", 2, "Invalid value for '--threads'"),
    ("train --pretrain-episodes -1", 2, "Invalid value for '--pretrain-episodes'"),
    ("train --checkpoint-every 0", 2, "Invalid value for '--checkpoint-every'"),
    ("train --seed x", 2, "Invalid value for '--seed'"),
    ("train --bogus", 2, "No such option: --bogus"),
    ("train --tier impossible", 1, "unknown levels 'impossible': expected a tier"),
    ("train --tier test-bogus", 1, "unknown levels 'test-bogus'"),
    ("train --out {d}/folder", 1, "--out {d}/folder is a folder: give a file name in it"),
    ("train --out {d}/no/c.pt", 1, "cannot write --out {d}/no/c.pt: folder {d}/no does not exist"),
    ("train --resume {d}/none.pt --out {d}/c.pt", 1, "--resume {d}/none.pt: no such checkpoint"),
    ("train --resume {d}/file.txt --out {d}/c.pt", 1, "{d}/file.txt"),
    ("train --tensorboard {d}/file.txt", 1, "--tensorboard {d}/file.txt is a file"),
    # symphony eval
    ("eval", 2, "Missing argument 'checkpoint'"),
    ("eval {d}/none.pt", 1, "{d}/none.pt: cannot be read (No such file or directory)"),
    ("eval {d}/file.txt", 1, "{d}/file.txt"),
    ("eval {d}/none.pt --episodes 0", 2, "Invalid value for '--episodes'"),
    ("eval {d}/none.pt --pack test-bogus", 1, "unknown levels 'test-bogus'"),
    ("eval {d}/none.pt --csv {d}/no/x.csv", 1, "folder {d}/no does not exist"),
    ("eval {d}/none.pt --csv {d}/folder", 1, "--csv {d}/folder is a folder"),
    ("eval {d}/none.pt --plot {d}/folder", 1, "--plot {d}/folder is a folder"),
    # symphony run
    ("run --envs 0", 2, "Invalid value for '--envs'"),
    ("run --envs 65", 2, "less than or equal to 64 (got '65')"),
    ("run --steps 0", 2, "Invalid value for '--steps'"),
    ("run --threads 0", 2, "Invalid value for '--threads'"),
    ("run --out {d}/folder --packs test-bogus", 1, "unknown levels 'test-bogus'"),
    ("run --out {d}/folder --packs ../x", 1, "packs: expected a list of pack names"),
    ("run --out {d}/file.txt", 1, "--out {d}/file.txt is a file"),
    # symphony quest
    ("quest solve nightmare", 1, "unknown level 'nightmare'"),
    ("quest solve test-medium:999", 1, "has 200 levels; no index 999"),
    ("quest solve legendary:3", 1, "unknown tier 'legendary' in 'legendary:3': expected one of"),
    ("quest solve {d}/file.txt", 1, "{d}/file.txt"),
    ("quest play --seed -5", 2, "'--seed': Input should be greater than or equal to 0 (got '-5')"),
    ("quest play nightmare", 1, "unknown level 'nightmare'"),
    ("quest fly", 2, "No such command 'fly'"),
    # symphony ext
    ("ext new Bad_Name --dir {d}", 1, "extension names are lower-case letters"),
    ("ext new w --kind widget --dir {d}", 1, "--kind must be operator, instrument or motif"),
    ("ext new existing --dir {d}", 1, "{d}/existing already exists"),
    ("ext check {d}/folder", 1, "{d}/folder/symphony.toml: no such manifest"),
    ("ext check {d}/not-toml", 1, "not-toml/symphony.toml: not valid TOML"),
    ("ext check {d}/no-module", 1, "cannot import entry module 'no_module_ext'"),
    ("ext check {d}/import-fails", 1, "RuntimeError('no weights here')"),
    (
        "ext check {d}/huge-memory",
        1,
        "field 'resources.memory_mb': expected less than or equal to 1048576",
    ),
    ("ext check {d}/zero-cpu", 1, "field 'resources.cpu_seconds': expected greater than 0"),
    ("ext check {d}/missing-fn", 1, "symphony.toml lists g but missing_fn_ext defines no"),
    ("ext check {d}/wrong-input", 1, "the manifest passes 'txt', which shout(text) does not take"),
    ("ext check {d}/schema-short", 1, "shout(text, times) requires 'times'"),
    ("ext check {d}/no-hook", 1, "hooks.on_load: no_hook_ext defines no function 'start'"),
    ("ext check {d}/wrong-kind", 1, "decorated @instrument but the manifest's kind is 'operator'"),
    ("ext schema --output {d}/folder", 1, "--output {d}/folder is a folder"),
    # symphony itself
    ("fly", 2, "No such command 'fly'"),
    ("--bogus", 2, "No such option: --bogus"),
]


def symphony(place: Path, args: str) -> subprocess.CompletedProcess[str]:
    argv = [a.format(d=place) for a in args.split()]
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [*SYMPHONY, *argv], capture_output=True, text=True, env=env, cwd=place, timeout=120
    )


@pytest.fixture(scope="module")
def outcomes(place: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every row, run once, two at a time (a row is mostly interpreter start-up)."""
    with ThreadPoolExecutor(2) as pool:
        done = pool.map(lambda r: symphony(place, r[0]), ROWS)
        return dict(zip((r[0] for r in ROWS), done, strict=True))


@pytest.mark.parametrize(("args", "status", "message"), ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_named_before_any_work(
    place: Path,
    outcomes: dict[str, subprocess.CompletedProcess[str]],
    args: str,
    status: int,
    message: str,
) -> None:
    done = outcomes[args]
    assert done.returncode == status, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert message.format(d=place) in done.stderr, done.stderr
    if status == 1:
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("error: ")
    assert not (place / "runs").exists()  # no run started
    assert not (place / "w").exists()


def test_the_table_is_long_enough() -> None:
    assert len(ROWS) >= 40


def test_version() -> None:
    done = subprocess.run([*SYMPHONY, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("symphony-lab ")
