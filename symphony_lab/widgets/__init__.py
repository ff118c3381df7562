"""Widgets for JupyterLab: the virtual DOM's component registry (more to come)."""
