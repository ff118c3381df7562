"""The Symphony workbench in JupyterLab: the run service in the Jupyter
server (routes under ``/symphony/api/``) and the prebuilt labextension
(``labextension/``: the Symphony sidebar, run views, the VDOM renderer).

Both are enabled on install (``jupyter-config``, shared data).
"""

from __future__ import annotations

from typing import Any

from symphony_jupyter._version import __version__
from symphony_jupyter.extensions import ExtensionService
from symphony_jupyter.handlers import setup_handlers
from symphony_jupyter.kit import KitService
from symphony_jupyter.quest import QuestService
from symphony_jupyter.settings import SymphonyArtifacts, SymphonyKit, SymphonyRuns


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    # For `jupyter labextension develop`; pip installs it as shared data.
    return [{"src": "labextension", "dest": "@symphony-lab/jupyterlab"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "symphony_jupyter"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    manager = SymphonyRuns(parent=server_app).manager(server_app.root_dir)
    artifacts = SymphonyArtifacts(parent=server_app).service(server_app.root_dir)
    extensions = ExtensionService()
    quest = QuestService(manager.runs_dir)
    settings = SymphonyKit(parent=server_app)
    kit = KitService(settings.kit_home(), extensions)
    registry = settings.registry(server_app.root_dir)
    setup_handlers(server_app.web_app, manager, artifacts, extensions, quest, kit, registry)
    server_app.log.info(
        "symphony_jupyter: runs in %s, artifacts in %s, extensions installed in %s",
        manager.runs_dir,
        artifacts.store_dir,
        kit.home,
    )
    if registry is not None:
        server_app.log.info(
            "symphony_jupyter: serving registry %r under /symphony/registry/", registry.name
        )


__all__ = ["SymphonyArtifacts", "SymphonyKit", "SymphonyRuns", "__version__"]
