"""Widgets for JupyterLab, drawn by the front end in js/ (bundled into
static/ by ./lab): :class:`VdomWidget` for any virtual DOM tree."""

from symphony_lab.widgets.dag_view import DagView
from symphony_lab.widgets.vdom_widget import VdomWidget

__all__ = ["DagView", "VdomWidget"]
