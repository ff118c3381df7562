"""symphony-lab: train a Conductor to orchestrate AI models and tools, on the Pit.

The packages, bottom to top (each imports only those below it; see
``docs/architecture.md``): :mod:`symphony_lab.pit` (the Rust core),
:mod:`symphony_lab.planning` and :mod:`symphony_lab.sdk` (the extension side),
:mod:`symphony_lab.stage`, :mod:`symphony_lab.conductor`, then the faces:
:mod:`symphony_lab.widgets` and :mod:`symphony_lab.cli`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("symphony-lab")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
