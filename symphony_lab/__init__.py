"""symphony-lab: train a Conductor to orchestrate AI models and tools, on the Pit.

The packages, bottom to top (each imports only those below it; see
``docs/architecture.md``): :mod:`symphony_lab.pit` (the Rust core),
:mod:`symphony_lab.planning` and :mod:`symphony_lab.sdk` (the extension side),
:mod:`symphony_lab.stage`, :mod:`symphony_lab.conductor`, then the faces:
:mod:`symphony_lab.widgets` and :mod:`symphony_lab.cli`.
"""

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Read on demand: importlib.metadata takes tens of milliseconds, which every
    # process that imports a part of the package (an extension's) would pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("symphony-lab")
        except PackageNotFoundError:  # a source tree on sys.path, not installed
            return "0+unknown"
    raise AttributeError(f"module 'symphony_lab' has no attribute {name!r}")
