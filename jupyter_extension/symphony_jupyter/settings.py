"""The workbench's server settings, as Jupyter configures servers: traitlets."""

from __future__ import annotations

from pathlib import Path

from traitlets import Unicode
from traitlets.config import Configurable

from symphony_jupyter.artifacts import ArtifactService
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


class SymphonyArtifacts(Configurable):
    """``c.SymphonyArtifacts.store_dir``: the ArtifactStore the Artifacts panel shows."""

    store_dir = Unicode(
        "artifacts",
        config=True,
        help="Folder of the ArtifactStore (symphony_lab.pit.ArtifactStore): relative to "
        "the server's root, or absolute. Listed once a store exists there.",
    )

    def service(self, root_dir: str) -> ArtifactService:
        return ArtifactService(Path(root_dir).expanduser() / Path(self.store_dir).expanduser())
