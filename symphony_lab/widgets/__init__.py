"""Widgets for JupyterLab, drawn by the front end in js/ (bundled into
static/ by ./lab): :class:`VdomWidget` for any virtual DOM tree,
:class:`DagView` the DAG inspector, :class:`TrainingDashboard` the live
curves of a Conductor's training."""

from symphony_lab.widgets.dag_view import DagView
from symphony_lab.widgets.dashboard import TrainingDashboard
from symphony_lab.widgets.motif_view import MotifView
from symphony_lab.widgets.vdom_widget import VdomWidget

__all__ = ["DagView", "MotifView", "TrainingDashboard", "VdomWidget"]
