"""The Stage: extensions hosted out of the kernel, spoken to over the bus.

- :mod:`~symphony_lab.stage.stage`: the set of extensions a kernel hosts;
- :mod:`~symphony_lab.stage.backend`: how the Stage reaches one extension
  (the seam a Ray actor will plug into), its states and restart policy;
- :mod:`~symphony_lab.stage.process`: the local backend, a supervised
  process (:mod:`~symphony_lab.stage.supervisor`), its exits
  (:mod:`~symphony_lab.stage.exits`) and its calls
  (:mod:`~symphony_lab.stage.client`);
- :mod:`~symphony_lab.stage.discovery`: installed extensions, by entry point;
- :mod:`~symphony_lab.stage.perform`: goal runs and melodies.

The extension's side of the contract (the manifest, the SDK) is
:mod:`symphony_lab.sdk`, which imports nothing of this package.
"""

from symphony_lab.sdk.manifest import (
    MANIFEST_NAME,
    Function,
    Manifest,
    ManifestError,
    load_manifest,
    manifest_schema,
    parse_manifest,
)
from symphony_lab.stage.backend import Backend, BackendFactory, HostOptions, RestartPolicy, State
from symphony_lab.stage.discovery import Installed, installed
from symphony_lab.stage.errors import (
    ExtensionCallError,
    ExtensionCrashed,
    ExtensionError,
    ExtensionOOM,
    ExtensionTimeout,
    ExtensionUnavailable,
)
from symphony_lab.stage.exits import Exit
from symphony_lab.stage.perform import Melody, Performance, Performer, Step
from symphony_lab.stage.process import ExtensionProcess
from symphony_lab.stage.stage import Stage, Watch, builtin_manifests

__all__ = [
    "MANIFEST_NAME",
    "Backend",
    "BackendFactory",
    "Exit",
    "ExtensionCallError",
    "ExtensionCrashed",
    "ExtensionError",
    "ExtensionOOM",
    "ExtensionProcess",
    "ExtensionTimeout",
    "ExtensionUnavailable",
    "Function",
    "HostOptions",
    "Installed",
    "Manifest",
    "ManifestError",
    "Melody",
    "Performance",
    "Performer",
    "RestartPolicy",
    "Stage",
    "State",
    "Step",
    "Watch",
    "builtin_manifests",
    "installed",
    "load_manifest",
    "manifest_schema",
    "parse_manifest",
]
