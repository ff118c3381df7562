"""The Symphony workbench in the Jupyter server: its run service.

Enabled on install (``jupyter-config``); routes under ``/symphony/api/``.
"""

from __future__ import annotations

from typing import Any

from symphony_jupyter.handlers import setup_handlers
from symphony_jupyter.settings import SymphonyRuns

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "symphony_jupyter"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    settings = SymphonyRuns(parent=server_app)
    manager = settings.manager(server_app.root_dir)
    setup_handlers(server_app.web_app, manager)
    server_app.log.info("symphony_jupyter: runs in %s", manager.runs_dir)


__all__ = ["SymphonyRuns", "__version__"]
