"""The workbench's server settings, as Jupyter configures servers: traitlets."""

from __future__ import annotations

from pathlib import Path

from traitlets import Unicode
from traitlets.config import Configurable

from symphony_jupyter.artifacts import ArtifactService
from symphony_lab.kit import default_home
from symphony_lab.kit.registry import RegistryStore
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


class SymphonyKit(Configurable):
    """``c.SymphonyKit.home``: where the marketplace installs; ``c.SymphonyKit.registry_dir``:
    a team registry this server serves."""

    home = Unicode(
        "",
        config=True,
        help="Orchestra Kit's home (extensions, keys, registries). Empty: the user's "
        "default ($SYMPHONY_HOME, else $XDG_DATA_HOME/symphony), as symphony kit uses.",
    )
    registry_dir = Unicode(
        "",
        config=True,
        help="A registry folder (made with `symphony kit registry init`) to serve under "
        "/symphony/registry/, as `symphony kit serve` does. Empty: none.",
    )

    def kit_home(self) -> Path:
        return Path(self.home).expanduser() if self.home else default_home()

    def registry(self, root_dir: str) -> RegistryStore | None:
        if not self.registry_dir:
            return None
        return RegistryStore(Path(root_dir).expanduser() / Path(self.registry_dir).expanduser())
