"""The ``symphony`` command line, run as a real subprocess."""

import importlib.util
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

import symphony_lab
from symphony_lab.runs import RunManager
from symphony_lab.runs.record import events

SYMPHONY = [sys.executable, "-m", "symphony_lab.cli"]
ROOT = Path(__file__).resolve().parents[1]


def symphony(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [*SYMPHONY, *args], input=stdin, capture_output=True, text=True, env=env, cwd=cwd,
        timeout=600,
    )  # fmt: skip


def test_quest_solve_prints_the_plan_and_the_expected_cost() -> None:
    done = symphony("quest", "solve", "software_delivery")
    assert done.returncode == 0, done.stderr
    assert "generate_code_local" in done.stdout
    assert "expected cost when calls fail" in done.stdout
    assert "(value_iteration)" in done.stdout


def test_a_person_can_play_a_level_to_the_end() -> None:
    done = symphony("quest", "play", "key_and_door", stdin="1\n0\n1\n2\n")
    assert done.returncode == 0, done.stderr
    assert "not possible now" in done.stdout  # use_key before the key
    assert "won: 3 calls, cost 3; the best policy's expected cost is 3" in done.stdout
    quit_ = symphony("quest", "play", "key_and_door", stdin="q\n")
    assert quit_.returncode == 1
    assert "given up" in quit_.stdout


def test_train_then_eval_writes_a_checkpoint_a_table_and_a_plot(tmp_path: Path) -> None:
    out = tmp_path / "c.pt"
    done = symphony(
        "train", "--tier", "tutorial", "--steps", "256", "--envs", "2",
        "--pretrain-episodes", "20", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.exists()
    csv, png = tmp_path / "e.csv", tmp_path / "e.png"
    done = symphony(
        "eval", str(out), "--pack", "test-tutorial", "--episodes", "4",
        "--csv", str(csv), "--plot", str(png),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for agent in ("conductor", "random", "greedy", "relaxed_greedy", "exact_replanning"):
        assert agent in done.stdout
    frame = pd.read_csv(csv)
    assert len(frame) == 20
    assert png.stat().st_size > 1000


def test_ext_new_scaffolds_an_extension_whose_test_passes(tmp_path: Path) -> None:
    for name, kind in [("hello", "operator"), ("judge", "instrument"), ("board", "motif")]:
        done = symphony("ext", "new", name, "--kind", kind, "--dir", str(tmp_path))
        assert done.returncode == 0, done.stderr
        assert f"created {tmp_path / name}/ ({kind})" in done.stdout
        check = symphony("ext", "check", str(tmp_path / name))
        assert check.returncode == 0, check.stderr
        assert f"{name} 0.1.0 ({kind}): valid" in check.stdout
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "hello", "judge", "board"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout
    again = symphony("ext", "new", "hello", "--dir", str(tmp_path))
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_ext_check_list_and_schema(tmp_path: Path) -> None:
    (tmp_path / "symphony.toml").write_text('name = "x"\nversion = "one"\nkind = "operator"\n')
    bad = symphony("ext", "check", str(tmp_path))
    assert bad.returncode == 1
    assert "field 'version': expected a semantic version" in bad.stderr
    # The shipped extensions' code matches their manifests.
    shipped = sorted((Path(symphony_lab.__file__).parent / "extensions").glob("*/symphony.toml"))
    with ThreadPoolExecutor(2) as pool:  # each imports its module: embed loads a model
        for ok in pool.map(lambda m: symphony("ext", "check", str(m)), shipped):
            assert ok.returncode == 0, ok.stderr
            assert "valid; functions:" in ok.stdout
    listed = symphony("ext", "list")
    assert listed.returncode == 0, listed.stderr
    for name in ["files", "text", "tables", "git", "embed", "classifier", "llm"]:
        assert name in listed.stdout
    schema = symphony("ext", "schema")
    assert schema.returncode == 0
    assert '"title": "symphony.toml"' in schema.stdout


def test_the_main_job_writes_a_run_the_run_service_lists(tmp_path: Path) -> None:
    done = symphony(
        "run", "--out", str(tmp_path), "--steps", "256", "--envs", "2", "--pretrain-episodes", "50",
        "--packs", "test-tutorial",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (rec,) = RunManager(tmp_path).runs()
    assert rec.status == "done", rec.error
    assert rec.params["packs"] == ["test-tutorial"]
    assert rec.provenance["packages"]["torch"]
    folder = tmp_path / rec.id
    kinds = [e["type"] for e in events(folder)[0]]
    assert kinds[-3:] == ["saved", "eval", "episode"]
    assert "train" in kinds
    assert (folder / "test-tutorial.csv").is_file()
    # The README's table of the main job is computed from such a folder.
    spec = importlib.util.spec_from_file_location("figures", ROOT / "benches" / "figures.py")
    assert spec is not None
    assert spec.loader is not None
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    data = figures.main_job(folder)
    (row,) = data["rows"]
    frame = pd.read_csv(folder / "test-tutorial.csv")
    mine = frame[frame["agent"] == "conductor"]
    assert row["pack"] == "test-tutorial"
    assert row["levels"] == len(mine)
    assert row["solved"] == mine["solved"].mean()
    assert "| test-tutorial | " in figures.render_main_job(data)
    bad = symphony("run", "--out", str(tmp_path), "--packs", "../x")
    assert bad.returncode == 1
    assert "packs: expected a list of pack names" in bad.stderr
    assert [p.name for p in tmp_path.iterdir()] == [rec.id]  # nothing made for it
