"""The .pyi stubs describe exactly what the compiled module offers (mypy's
stubtest, with no allowlist), and load on the oldest Python we support."""

import subprocess
import sys
from pathlib import Path

from symphony_lab.pit import _pit

STUB = Path(_pit.__file__).with_name("_pit.pyi")


def test_stubtest_finds_no_mismatch_between_the_binding_and_its_stubs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "symphony_lab.pit._pit"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


def test_the_stubs_type_check_under_python_3_11() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-version", "3.11", "--no-incremental", str(STUB)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_enums_come_from_the_rust_enums() -> None:
    assert [s.value for s in _pit.TaskState] == [
        "pending",
        "ready",
        "running",
        "done",
        "failed",
        "skipped",
        "cancelled",
    ]
    assert _pit.InstanceState("cold") is _pit.InstanceState.COLD
    assert _pit.Priority.CRITICAL == "critical"
    assert _pit.Verdict.__module__ == "symphony_lab.pit._pit"


def test_typed_marker_ships_beside_the_stubs() -> None:
    assert STUB.exists()
    assert STUB.parent.parent.joinpath("py.typed").exists()
