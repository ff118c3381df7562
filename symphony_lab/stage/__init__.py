"""The Stage: extensions as supervised subprocesses, spoken to over the bus.

- :mod:`~symphony_lab.stage.manifest`: ``symphony.toml``, validated;
- :mod:`~symphony_lab.stage.process`: one extension's process and its supervisor;
- :mod:`~symphony_lab.stage.stage`: the set of extensions a kernel hosts.
"""

from symphony_lab.stage.manifest import (
    MANIFEST_NAME,
    Function,
    Manifest,
    load_manifest,
    manifest_schema,
    parse_manifest,
)
from symphony_lab.stage.perform import Melody, Performance, Performer, Step
from symphony_lab.stage.process import Exit, ExtensionProcess, RestartPolicy, State
from symphony_lab.stage.stage import Stage, builtin_manifests

__all__ = [
    "MANIFEST_NAME",
    "Exit",
    "ExtensionProcess",
    "Function",
    "Manifest",
    "Melody",
    "Performance",
    "Performer",
    "RestartPolicy",
    "Stage",
    "State",
    "Step",
    "builtin_manifests",
    "load_manifest",
    "manifest_schema",
    "parse_manifest",
]
