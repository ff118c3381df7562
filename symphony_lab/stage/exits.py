"""How one run of an extension's process ended, read from the evidence, and
the exception its calls in flight get for it.

The evidence: the signal or status ``waitpid`` gave, the reason the host
recorded when it killed the process itself (a hang, a deadline, a protocol
breach, a stop), the runtime's exit codes, and the cgroup's ``oom_kill``
counter for a SIGKILL nobody on the host sent.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from symphony_lab.sdk.runtime import EXIT_BAD_EXTENSION, EXIT_OOM
from symphony_lab.stage.errors import (
    ExtensionCrashed,
    ExtensionError,
    ExtensionOOM,
    ExtensionTimeout,
    ExtensionUnavailable,
)


@dataclass(frozen=True)
class Exit:
    """How one run of the process ended."""

    generation: int
    pid: int
    code: int | None
    signal: int | None
    # Set when the host ended it: "hang", "timeout", "protocol", "stop", "disk".
    host_reason: str | None
    detail: str
    log_tail: str
    # The cgroup's OOM-kill counter moved while it ran (None: not readable here).
    oom_killed: bool | None = None

    @property
    def kind(self) -> str:
        if self.host_reason in ("hang", "timeout"):
            return "timeout"
        if self.host_reason == "stop":
            return "stopped"
        if self.code == EXIT_OOM or (self.signal == signal.SIGKILL and self.oom_killed):
            return "oom"  # MemoryError under RLIMIT_AS, or the kernel's OOM killer
        if self.signal == signal.SIGXCPU:
            return "timeout"
        return "crash"

    def describe(self) -> str:
        if self.signal == signal.SIGKILL and self.host_reason is None:
            how = "killed by SIGKILL, which the Stage did not send" + (
                " (the kernel's OOM killer)"
                if self.oom_killed
                else " (no OOM kill was recorded)"
                if self.oom_killed is False
                else ""
            )
        elif self.signal is not None:
            how = f"killed by {signal.Signals(self.signal).name}"
        elif self.code == EXIT_BAD_EXTENSION:
            how = "could not start (see its log)"
        else:
            how = f"exited with status {self.code}"
        why = {
            "hang": "it stopped answering heartbeats",
            "timeout": "a call passed its deadline",
            "protocol": "it broke the bus protocol",
            "stop": "the Stage stopped it",
            "disk": "it filled its work folder",
            "start": "it failed to start",
        }.get(self.host_reason or "", "")
        text = f"{how}" + (f" after {why}" if why else "")
        return text + (f": {self.detail}" if self.detail else "")

    def error(self, extension: str, function: str | None = None, seen: str = "") -> ExtensionError:
        """The exception for calls that were in flight; ``seen`` is what the bus saw."""
        what = f"call of {extension}.{function}" if function else f"extension {extension!r}"
        cls: type[ExtensionError] = {
            "timeout": ExtensionTimeout,
            "oom": ExtensionOOM,
            "stopped": ExtensionUnavailable,
        }.get(self.kind, ExtensionCrashed)
        msg = f"{what} failed: the process (pid {self.pid}) {self.describe()}"
        if seen and seen not in msg:
            msg += f" (the bus saw: {seen})"
        if self.log_tail:
            msg += f"\n--- last lines of its log ---\n{self.log_tail}"
        return cls(msg, extension, self.log_tail)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def oom_kills() -> int | None:
    """The OOM-kill count of our cgroup (v2), which extensions share; None if unreadable."""
    try:
        rel = Path("/proc/self/cgroup").read_text().strip().split("::", 1)[1]
        for line in Path(f"/sys/fs/cgroup{rel}/memory.events").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, IndexError, ValueError):
        pass
    return None
