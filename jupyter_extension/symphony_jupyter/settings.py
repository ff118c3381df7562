"""The run service's settings, as Jupyter configures servers: traitlets."""

from __future__ import annotations

from pathlib import Path

from traitlets import Unicode
from traitlets.config import Configurable

from symphony_lab.runs import RunManager


class SymphonyRuns(Configurable):
    """``c.SymphonyRuns.runs_dir``: where runs live."""

    runs_dir = Unicode(
        "runs",
        config=True,
        help="Folder of the runs: relative to the server's root, or absolute. "
        "The layout is the one `symphony run|train|eval` write.",
    )

    def manager(self, root_dir: str) -> RunManager:
        return RunManager(Path(root_dir).expanduser() / Path(self.runs_dir).expanduser())
