"""The docs: the site builds in strict mode, the CLI reference matches
``--help``, and every Python and shell example in the READMEs and on the
site's pages runs as written, each page in a fresh interpreter and folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from doc_blocks import blocks

ROOT = Path(__file__).resolve().parents[1]
READMES = [
    ROOT / "README.md",
    ROOT / "envs" / "README.md",
    ROOT / "jupyter_extension" / "README.md",
]
PAGES = sorted([*READMES, *(ROOT / "docs").rglob("*.md")])
RUNNABLE = [p for p in PAGES if any(b.not_run is None for b in blocks(p.read_text()))]
#: Blocks left out on purpose (the set-up commands, the minutes-long main job).
MAX_NOT_RUN = 5


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


#: Pages run side by side: most of a page's time is imports and servers
#: starting, and the suite otherwise leaves the second core idle.
WORKERS = 2


def run_page(page: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    home = tmp / "home"  # nothing a page does writes into the user's home
    home.mkdir(parents=True)
    work = tmp / "work"
    work.mkdir()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MPLBACKEND": "Agg",
        "NO_COLOR": "1",
        "COLUMNS": "120",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",  # two pages share two cores
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "doc_blocks.py"), str(page)],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, subprocess.CompletedProcess[str]]:
    """Every runnable page, run once, two at a time."""
    root = tmp_path_factory.mktemp("pages")
    with ThreadPoolExecutor(WORKERS) as pool:
        done = pool.map(lambda ip: run_page(ip[1], root / str(ip[0])), enumerate(RUNNABLE))
        return dict(zip(RUNNABLE, done, strict=True))


@pytest.mark.parametrize("page", RUNNABLE, ids=[name(p) for p in RUNNABLE])
def test_the_examples_of_a_page_run_as_written(
    page: Path, ran: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    done = ran[page]
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-6000:])


def test_blocks_left_out_are_counted_and_say_why() -> None:
    left_out = [
        f"{name(p)}:{b.line} ({b.not_run})"
        for p in PAGES
        for b in blocks(p.read_text())
        if b.not_run is not None
    ]
    assert all(not entry.endswith("()") for entry in left_out)
    warnings.warn(
        f"{len(left_out)} doc blocks not run, on purpose: " + "; ".join(left_out), stacklevel=1
    )
    assert len(left_out) <= MAX_NOT_RUN, left_out
    ran = sum(b.not_run is None for p in PAGES for b in blocks(p.read_text()))
    assert ran >= 30  # the site's examples did not silently vanish from the collection


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-6000:]
    site = tmp_path / "site"
    for page in ["getting-started/first-training", "concepts/pit", "reference/cli"]:
        assert (site / page / "index.html").is_file()
    api = (site / "reference" / "api" / "conductor" / "index.html").read_text()
    assert 'id="symphony_lab.conductor.Conductor.train"' in api  # from the docstrings
    pit = (site / "reference" / "api" / "pit" / "index.html").read_text()
    assert 'id="symphony_lab.pit.DagTracker' in pit  # from the Pit's stubs


@pytest.mark.parametrize(
    "script",
    [
        "docs/cli_reference.py",  # the CLI reference against every command's --help
        "benches/figures.py",  # the pages' generated figures against benches/measured
    ],
)
def test_generated_text_is_current(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / script), "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_pages_quote_every_benchmark_from_its_measured_results() -> None:
    """Each figure block names a results file that a benchmark wrote; the
    parametrized test above checks that the pages say what the files do."""
    pages = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    blocks = {b for p in pages for b in re.findall(r"<!-- figures ([\w-]+):", p.read_text())}
    quoted = {
        "main_job",
        "live",
        "conductor",
        "function_quest",
        "dag",
        "pool",
        "bus",
        "lab",
        "kit",
        "stage",
        "fuzz",
    }
    assert blocks == quoted
    measured = {p.stem for p in (ROOT / "benches" / "measured").glob("*.json")}
    assert measured == quoted | {"arbiter", "real_runs"}
