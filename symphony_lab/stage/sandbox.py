"""The walls the kernel puts around each extension, and what this kernel can do.

An extension runs under Landlock (the paths of ``[permissions.file]``, plus its
own folder and the Python runtime, readable; TCP refused where the network is
denied; no signal to any process outside its sandbox), a seccomp deny list
(``DENIED``, and ``execve`` once the runtime has started unless
``[permissions.system] execute`` is allowed), rlimits, a pids cgroup (or
``RLIMIT_NPROC`` for users other than root, where the kernel counts it) and,
where the network is denied, a network namespace of its own. Its work folder
is a tmpfs of ``resources.disk_mb`` in a mount namespace of its own: the
kernel bounds it, and it starts empty at each start.

:func:`probe` says which of these this kernel enforces; a Stage refuses to
start without all of them unless told ``sandbox="degraded"``, and then says
which are missing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import symphony_lab
from symphony_lab.pit import network_isolation, sandbox_support
from symphony_lab.sdk.manifest import Manifest

#: ``strict`` refuses to start an extension the kernel cannot wall in fully;
#: ``degraded`` starts it with what the kernel has, and says what is missing.
SandboxMode = Literal["strict", "degraded"]

#: Read by every extension: what a dynamically linked interpreter and its
#: standard library need from the system, and nothing of anybody's.
_SYSTEM_READ = (
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/usr/local/lib",
    "/usr/share/zoneinfo",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/sys/devices/system/cpu",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
)
#: Read too where the network is allowed: name resolution and TLS roots.
_NETWORK_READ = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
)
#: Where programs live, for extensions allowed ``system:execute``.
_PROGRAMS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/lib", "/usr/libexec")
_LOADERS = ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1")


class SandboxUnavailable(RuntimeError):
    """The kernel cannot enforce every protection and the Stage is strict."""


@dataclass(frozen=True)
class Protection:
    """One wall: whether this kernel enforces it, and how (or why not)."""

    name: str
    enforced: bool
    how: str


@dataclass(frozen=True)
class SandboxReport:
    """What the kernel enforces around extensions on this machine."""

    protections: tuple[Protection, ...]
    mode: SandboxMode = "strict"
    #: Where this process makes pids cgroups, if it can.
    pids_cgroup: str | None = None

    @property
    def missing(self) -> list[str]:
        return [p.name for p in self.protections if not p.enforced]

    @property
    def complete(self) -> bool:
        return not self.missing

    def line(self) -> str:
        """One line for the log and the Stage's status."""
        if self.complete:
            return "sandbox: " + ", ".join(f"{p.name} ({p.how})" for p in self.protections)
        gaps = "; ".join(f"{p.name}: {p.how}" for p in self.protections if not p.enforced)
        return f"sandbox DEGRADED, not enforced: {gaps}"

    def __str__(self) -> str:
        return self.line()


def probe(mode: SandboxMode = "strict") -> SandboxReport:
    """Asks the kernel what it can enforce (cheap; the namespace probe once)."""
    s = sandbox_support()
    abi, needed = s["landlock_abi"], s["landlock_abi_needed"]
    root = os.geteuid() == 0
    userns = network_isolation()
    protections = (
        Protection(
            "landlock",
            abi >= needed,
            f"ABI {abi}: files, TCP, signals"
            if abi >= needed
            else f"the kernel offers Landlock ABI {abi}, {needed} is needed (Linux 6.12 or later)",
        ),
        Protection(
            "seccomp",
            bool(s["seccomp"]),
            f"{len(s['denied_calls'])} calls denied" if s["seccomp"] else "the kernel has none",
        ),
        Protection(
            "namespaces",
            userns is None,
            "own network, tmpfs work folder" if userns is None else userns,
        ),
        Protection(
            "process limit",
            s["pids_cgroup"] is not None or not root,
            "pids cgroup"
            if s["pids_cgroup"] is not None
            else "RLIMIT_NPROC"
            if not root
            else "no writable pids cgroup, and RLIMIT_NPROC does not bind root",
        ),
    )
    return SandboxReport(protections, mode, s["pids_cgroup"])


def runtime_paths() -> list[Path]:
    """The Python installation the host runs on, which extensions run on too:
    its prefixes, standard library, site-packages and the folders on its path
    (never the user's home itself, or an ancestor of it)."""
    home = Path.home().resolve()
    found: list[Path] = [Path(symphony_lab.__file__).resolve().parent.parent]
    found += [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
    found += [Path(p) for p in sysconfig.get_paths().values()]
    found += [Path(p) for p in sys.path if p and os.path.isabs(p)]
    out: list[Path] = []
    for p in found:
        with contextlib.suppress(OSError):
            p = p.resolve()
            if p.exists() and p != Path("/") and p not in home.parents and p != home:
                out.append(p)
    return out


def expand(item: str, *, ext: Path, work: Path, cwd: Path) -> Path:
    """A granted path with its placeholder replaced."""
    head, _, rest = item.partition("/")
    base = {"$EXT": ext, "$WORK": work, "$HOME": Path.home(), "$CWD": cwd}.get(head)
    return (base / rest if rest else base) if base is not None else Path(item)


@dataclass
class Walls:
    """The paths and switches one extension's process is started with."""

    read: list[str]
    write: list[str]
    execute: list[str]
    deny_tcp: bool
    allow_exec: bool
    skipped: list[str] = field(default_factory=list)


def walls(
    manifest: Manifest,
    workdir: Path,
    *,
    store: str | None,
    grants: dict[str, list[str]] | None = None,
    cwd: Path | None = None,
) -> Walls:
    """Resolves an extension's permissions, plus the user's ``grants``
    (``{"read": [...], "write": [...]}``), into the paths the kernel enforces.
    A granted path that does not exist is skipped, and listed as such."""
    assert manifest.folder is not None
    perms = manifest.permissions
    where = {"ext": manifest.folder.resolve(), "work": workdir.resolve(), "cwd": cwd or Path.cwd()}
    grants = grants or {}
    network = perms.allows("network", "read") or perms.allows("network", "write")
    execute = perms.allows("system", "execute")
    skipped: list[str] = []

    def existing(items: list[str], *, named: bool = True) -> list[str]:
        """The items that exist, resolved; a missing one the manifest or the
        user named is listed in ``skipped``, and so is one whose links lead
        out of the folder its placeholder names."""
        out = []
        for item in items:
            p = expand(item, **where)
            base = expand(item.split("/", 1)[0], **where) if item.startswith("$") else None
            if not p.exists():
                if named:
                    skipped.append(f"{item} ({p})")
            elif base is not None and not p.resolve().is_relative_to(base.resolve()):
                skipped.append(f"{item} (its links lead out of {base} to {p.resolve()})")
            else:
                out.append(str(p.resolve()))
        return out

    runtime = runtime_paths()

    def harmless(paths: list[str]) -> list[str]:
        """Write grants that do not reach the code the host and the extension
        run (a dev checkout on the path, site-packages): those stay read-only."""
        out = []
        for item in paths:
            p = Path(item)
            if any(p == r or p in r.parents or r in p.parents for r in runtime):
                skipped.append(f"writing {item} (it holds the Python runtime; read-only)")
            else:
                out.append(item)
        return out

    read = [str(p) for p in runtime] + [str(where["ext"])]
    read += existing([*_SYSTEM_READ, *(_NETWORK_READ if network else ())], named=False)
    read += existing(perms.file.read + grants.get("read", []))
    # Its work folder (HOME, TMPDIR beneath) is always its own to write.
    asked = existing([*perms.file.write, *grants.get("write", [])])
    # What it may write it may read, even where the write is refused.
    read += asked
    write = existing(["$WORK"]) + harmless(asked)
    write += existing(["/dev/null"], named=False)
    if store is not None:
        # ctx.put writes the Stage's ArtifactStore, which may not exist yet.
        Path(store).mkdir(parents=True, exist_ok=True)
        write.append(str(Path(store).resolve()))
    programs = [str(Path(sys.executable).resolve())]
    if manifest.executable is not None:
        programs.append(str((manifest.folder / manifest.executable).resolve()))
    programs += existing([*_LOADERS, *(_PROGRAMS if execute else ())], named=False)
    return Walls(read, write, programs, not network, execute, skipped)


def kill_cgroup(folder: Path) -> None:
    """Kills every process left in a pids cgroup, then removes it."""
    for _ in range(50):
        try:
            pids = [int(x) for x in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        # The kernel empties the group as the processes die.
        os.sched_yield()
    with contextlib.suppress(OSError):
        folder.rmdir()


def make_cgroup(hierarchy: str, name: str, pids_max: int) -> Path:
    """A pids cgroup of its own for one extension process."""
    folder = Path(hierarchy) / name
    if folder.exists():
        kill_cgroup(folder)
    folder.mkdir()
    (folder / "pids.max").write_text(str(pids_max))
    return folder
