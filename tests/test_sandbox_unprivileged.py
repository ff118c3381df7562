"""The sandbox as a user who is not root runs it.

Sessions here run as root, users do not; the walls differ between the two:
a user other than root has no pids cgroup to write (``RLIMIT_NPROC`` bounds
it instead, which root ignores), and makes its namespaces without any
privilege. So a host runs here as ``nobody``: a real Stage, a real extension,
the attacks whose defence depends on who runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import symphony_lab
from tests.test_sandbox_attacks import EVIL

NOBODY = 65534

HOST = r"""
import json, os, signal, sys
from symphony_lab.stage import Stage

root = sys.argv[1]
with Stage([os.path.join(root, "evil")], root=os.path.join(root, "stage")) as stage:
    stage.start()
    out = {"uid": os.getuid(), "sandbox": stage.status()}
    call = lambda f, *a: stage.call(f"evil.{f}", list(a), timeout=60)
    out["fork_bomb"] = call("fork_bomb")
    out["read"] = call("read", os.path.join(root, "secret", "key"))
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    out["kill"] = call("kill", os.getpid())
    signal.signal(signal.SIGTERM, previous)
    out["shell"] = call("shell")
    out["fill"] = call("fill_disk", 256)
print(json.dumps(out))
"""

AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def _runs_as_nobody(python: str) -> bool:
    """Whether ``nobody`` can run ``python`` and reach its file by path (the
    sandbox opens it to allow its execution)."""
    check = "import os, sys; os.stat(os.path.realpath(sys.executable))"
    done = subprocess.run([*AS_NOBODY, python, "-c", check], capture_output=True)
    return done.returncode == 0


def _python() -> str:
    """An interpreter of this Python version that ``nobody`` may run (this
    one lives in root's home here)."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if Path(candidate).exists() and _runs_as_nobody(candidate):
            return candidate
    pytest.fail(
        f"no {version} that the user nobody may run (tried {sys.executable}, /usr/bin/{version}, "
        "/usr/local/bin/{version}): install Debian's python3 to test the sandbox unprivileged"
    )


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("this test starts a host as nobody, which only root can do")
    root = Path(tempfile.mkdtemp(prefix="symphony-unprivileged-"))
    try:
        evil = root / "evil"
        evil.mkdir()
        (evil / "evil_ext.py").write_text(EVIL)
        used = ("fork_bomb", "read", "kill", "shell", "fill_disk")
        fns = "".join(f'[[functions]]\nname = "{f}"\n' for f in used)
        (evil / "symphony.toml").write_text(
            'name = "evil"\nversion = "0.1.0"\nkind = "operator"\nentry = "evil_ext"\n'
            + fns
            + "[resources]\nprocesses = 32\ndisk_mb = 64\n"
        )
        (root / "secret").mkdir()
        (root / "secret" / "key").write_text("the key")
        for path in [root, *root.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_walls_hold_for_a_user_who_is_not_root(folder: Path) -> None:
    python = _python()
    package_root = Path(symphony_lab.__file__).resolve().parent.parent
    site = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(package_root), site]),
    }
    done = subprocess.run(
        [*AS_NOBODY, python, "-c", HOST, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, textwrap.shorten(done.stderr[-3000:], 3000)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["uid"] == NOBODY
    # Every wall is there, the process limit by RLIMIT_NPROC rather than a cgroup.
    assert out["sandbox"]["sandbox_missing"] == [], out["sandbox"]
    assert "RLIMIT_NPROC" in out["sandbox"]["sandbox"]
    assert out["fork_bomb"].startswith("blocked after"), out
    # RLIMIT_NPROC counts every task of the user, threads too, so the bound
    # is the manifest's 32 give or take the threads that came and went.
    assert int(out["fork_bomb"].split()[2]) <= 40, out
    for attack in ("read", "kill", "shell"):
        assert out[attack].startswith("blocked"), out
    assert "No space left on device" in out["fill"] or "File too large" in out["fill"], out
