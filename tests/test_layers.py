"""The layers of docs/architecture.md hold: import-linter's contracts pass,
and would fail on a wrong-way import, even one inside a function; the
compiled Pit has one face; no function imports a module of ours to dodge a
cycle (only the command line defers its imports, to start fast)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "symphony_lab": ROOT / "symphony_lab",
    "function_quest": ROOT / "envs" / "function_quest",
}
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_import_contract_is_kept() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of our Python sources only, to break on purpose."""
    copy = tmp_path_factory.mktemp("src")
    for name, folder in PACKAGES.items():
        shutil.copytree(folder, copy / name, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    return copy


@pytest.mark.parametrize(
    ("module", "sneaked", "broken"),
    [
        # The Pit reaching up to the Stage, inside a function.
        ("symphony_lab/pit/pool.py", "from symphony_lab.stage import Stage", "Layers"),
        # The planning model reaching the Conductor, inside a function.
        ("symphony_lab/planning/solver.py", "import symphony_lab.conductor", "Layers"),
        # The extension side importing the host.
        ("symphony_lab/sdk/context.py", "from symphony_lab.stage import Stage", "extension side"),
        # The core importing the game.
        ("symphony_lab/conductor/envs.py", "import function_quest.env", "never imports a game"),
    ],
)
def test_a_wrong_way_import_inside_a_function_breaks_a_contract(
    sources: Path, module: str, sneaked: str, broken: str
) -> None:
    path = sources / module
    original = path.read_text()
    try:
        path.write_text(original + f"\n\ndef _sneak() -> None:\n    {sneaked}  # noqa\n")
        done = lint(sources, pythonpath=sources)
    finally:
        path.write_text(original)
    assert done.returncode == 1, done.stdout + done.stderr
    assert broken in done.stdout.split("Broken contracts")[1], done.stdout


def python_files() -> list[Path]:
    return [p for folder in PACKAGES.values() for p in sorted(folder.rglob("*.py"))]


def imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return []


def test_only_the_pit_package_imports_the_compiled_module() -> None:
    pit = PACKAGES["symphony_lab"] / "pit"
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in python_files()
        if pit not in path.parents
        for node in ast.walk(ast.parse(path.read_text()))
        if any(m.startswith("symphony_lab.pit._pit") for m in imported_modules(node))
    ]
    assert offenders == [], "import symphony_lab.pit, not its compiled module"


def test_no_function_imports_a_module_of_ours_but_the_command_line() -> None:
    """Deferred imports of our own modules hide cycles; the command line alone
    defers them, so that ``symphony ext list`` does not load PyTorch."""
    cli = PACKAGES["symphony_lab"] / "cli.py"
    offenders = []
    for path in python_files():
        if path == cli:
            continue
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if any(m.split(".")[0] in PACKAGES for m in imported_modules(node)):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
