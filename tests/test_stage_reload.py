"""The developer's loop: a running Stage reloads an edited extension, calls in
flight finish on the old process, and a broken edit leaves the old one serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kit_helpers import make_extension

from symphony_lab.sdk.manifest import ManifestError
from symphony_lab.stage import ExtensionError, Stage

SLOW = '''

@operator
def slow(text: str) -> str:
    """Answers after a second."""
    import time

    time.sleep(1.0)
    return "old:" + text
'''


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / f"{folder.name.split('-')[0]}_ext.py"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_reload_swaps_the_process_and_lets_calls_in_flight_finish(tmp_path: Path) -> None:
    folder = make_extension(tmp_path, "greeter", body=SLOW)
    with (folder / "symphony.toml").open("a") as f:
        f.write('\n[[functions]]\nname = "slow"\ninputs = { text = "text" }\noutputs = ["text"]\n')
    with Stage([folder]) as stage:
        first = stage["greeter"]
        pid = first.pid  # type: ignore[attr-defined]  # the local backend's process
        answers: list[str] = []
        slow = threading.Thread(
            target=lambda: answers.append(stage.call("greeter.slow", {"text": "a"}))
        )
        slow.start()
        time.sleep(0.3)  # the slow call is in flight on the old process
        _edit(folder, "text.upper()", "text.upper() + '!'")
        new = stage.reload("greeter")
        assert new is not first
        assert stage.call("greeter.shout", {"text": "hi"}) == "HI!"
        slow.join(timeout=30)
        assert answers == ["old:a"], "the call in flight finished on the old process"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the old process outlived its calls")


def test_a_broken_edit_leaves_the_old_code_serving(tmp_path: Path) -> None:
    folder = make_extension(tmp_path, "greeter")
    with Stage([folder]) as stage:
        assert stage.call("greeter.shout", {"text": "hi"}) == "HI"
        manifest = folder / "symphony.toml"
        good = manifest.read_text()
        manifest.write_text(good.replace('kind = "operator"', 'kind = "opera"'))
        with pytest.raises(ManifestError, match="kind"):
            stage.reload("greeter")
        manifest.write_text(good)
        _edit(folder, "from symphony_lab.sdk import operator", "import no_such_module_here")
        with pytest.raises(ExtensionError):
            stage.reload("greeter")
        assert stage.call("greeter.shout", {"text": "hi"}) == "HI", "the old process still serves"


def test_watch_reloads_on_save(tmp_path: Path) -> None:
    folder = make_extension(tmp_path, "greeter")
    with Stage([folder]) as stage, stage.watch("greeter", debounce=0.1) as watch:
        assert stage.call("greeter.shout", {"text": "hi"}) == "HI"
        _edit(folder, "text.upper()", "text.lower()")
        deadline = time.monotonic() + 60
        while not watch.reloads and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watch.reloads == [None]
        assert stage.call("greeter.shout", {"text": "HI"}) == "hi"


def test_kit_dev_reloads_and_calls(tmp_path: Path) -> None:
    folder = make_extension(tmp_path, "greeter")
    proc = subprocess.Popen(
        [sys.executable, "-m", "symphony_lab.cli", "kit", "dev", str(folder), "--call", "shout",
         "--args", '{"text": "hi"}'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    seen: list[str] = []
    # Never wait forever on a loop that does not answer.
    guard = threading.Timer(120, proc.kill)
    guard.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "-> 'HI'" in line:
                _edit(folder, "text.upper()", "text.upper() + '?'")
            if "-> 'HI?'" in line:
                break
    finally:
        guard.cancel()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert any("-> 'HI?'" in line for line in seen), "".join(seen)
