"""Finding extensions: the ones installed in this environment, through the
``symphony_lab.extensions`` entry-point group.

A distribution offers an extension by naming, in that group, the package (or
module) whose folder holds its ``symphony.toml``::

    [project.entry-points."symphony_lab.extensions"]
    summarize = "summarize_ext"

An extension installed by pip, or later by a registry, is found the same way
as the ones symphony-lab ships. The folder is located without importing the
extension (its dependencies load in its own process, not in the kernel).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from symphony_lab.sdk.manifest import MANIFEST_NAME, ManifestError

GROUP = "symphony_lab.extensions"

#: The distribution whose extensions ``Stage(builtin=True)`` adds.
SHIPPED_BY = "symphony-lab"


@dataclass(frozen=True)
class Installed:
    """An extension an installed distribution offers."""

    name: str
    folder: Path
    #: The distribution that offers it (``symphony-lab`` for the shipped ones).
    distribution: str


def installed() -> dict[str, Installed]:
    """Every extension offered through the entry points, by name."""
    found: dict[str, Installed] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        if ep.name in found and found[ep.name].distribution != dist:
            raise ManifestError(
                f"two installed distributions offer an extension named {ep.name!r}: "
                f"{found[ep.name].distribution} and {dist}"
            )
        found[ep.name] = Installed(ep.name, _folder(ep, dist), dist)
    return dict(sorted(found.items()))


def builtin() -> list[Path]:
    """Folders of the extensions shipped with symphony-lab."""
    return [e.folder for e in installed().values() if _normal(e.distribution) == SHIPPED_BY]


def find(name: str) -> Path:
    """The folder of the installed extension ``name``; ``ManifestError`` lists
    what is installed when none has that name."""
    everything = installed()
    if name not in everything:
        raise ManifestError(
            f"no extension {name!r} is installed (installed: {', '.join(everything) or 'none'}); "
            "give a folder's path, or install a package that offers it"
        )
    return everything[name].folder


def _folder(ep: EntryPoint, dist: str) -> Path:
    where = f"entry point {ep.name} = {ep.value!r} of {dist}"
    if ep.attr:
        raise ManifestError(f"{where}: name a package or module, not an attribute")
    try:
        spec = importlib.util.find_spec(ep.module)
    except (ImportError, ValueError) as e:
        raise ManifestError(f"{where}: cannot find {ep.module!r}: {e}") from None
    if spec is None:
        raise ManifestError(f"{where}: no module {ep.module!r} is installed")
    if spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
    elif spec.origin is not None:
        folder = Path(spec.origin).parent
    else:
        raise ManifestError(f"{where}: {ep.module!r} has no folder")
    if not (folder / MANIFEST_NAME).is_file():
        raise ManifestError(f"{where}: {folder} holds no {MANIFEST_NAME}")
    return folder


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
