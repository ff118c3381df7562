"""Runs on disk and in worker processes: what the Jupyter server's run
service and the notebook client share.

``RunManager(runs_dir)`` starts training and evaluation runs, each in a
supervised worker process, and lists, follows, cancels and resumes them;
``record`` is the on-disk layout every run folder has.
"""

from symphony_lab.runs.manager import RunManager
from symphony_lab.runs.record import FINISHED, RunError, RunRecord, UnknownRun

__all__ = ["FINISHED", "RunError", "RunManager", "RunRecord", "UnknownRun"]
