"""Finding extensions: the ones installed in this environment, through the
``symphony_lab.extensions`` entry-point group.

A distribution offers an extension by naming, in that group, the package (or
module) whose folder holds its ``symphony.toml``::

    [project.entry-points."symphony_lab.extensions"]
    summarize = "summarize_ext"

An extension installed by pip is found the same way as the ones
symphony-lab ships; one installed by Orchestra Kit (``symphony kit install``)
is found in the kit's home, as distribution ``symphony kit``, and replaces a
shipped extension of the same name (as the version the user chose). Its folder is
located without running the extension's own module (only its parent packages are imported, as Python
does to find a submodule); its dependencies load in its own process, never
in the kernel. A broken entry point is reported by name and left out, so it
cannot hide the others.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from symphony_lab.kit import installed_folders
from symphony_lab.sdk.manifest import MANIFEST_NAME, ManifestError

GROUP = "symphony_lab.extensions"

#: The distribution whose extensions ``Stage(builtin=True)`` adds.
SHIPPED_BY = "symphony-lab"
#: The distribution named for extensions that Orchestra Kit installed.
KIT = "symphony kit"


@dataclass(frozen=True)
class Installed:
    """An extension an installed distribution offers."""

    name: str
    folder: Path
    #: The distribution that offers it (``symphony-lab`` for the shipped ones).
    distribution: str
    #: The distribution whose extension of this name it replaces: a shipped
    #: extension that Orchestra Kit installed (say, a newer version) is loaded
    #: from the kit's home instead.
    overrides: str | None = None


def scan() -> tuple[dict[str, Installed], dict[str, ManifestError]]:
    """Every extension the entry points offer, and the entry points that
    cannot be followed, each with why."""
    good: dict[str, Installed] = {}
    bad: dict[str, ManifestError] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            if ep.name in good and good[ep.name].distribution != dist:
                raise ManifestError(
                    f"two installed distributions offer an extension named {ep.name!r}: "
                    f"{good[ep.name].distribution} and {dist}"
                )
            good[ep.name] = Installed(ep.name, _folder(ep, dist), dist)
        except ManifestError as e:
            bad[ep.name] = e
    for name, folder in installed_folders().items():
        other = good.get(name)
        if other is not None and _normal(other.distribution) != SHIPPED_BY:
            del good[name]
            bad[name] = ManifestError(
                f"an extension named {name!r} is offered by {other.distribution} "
                f"and installed by symphony kit too: uninstall one of them"
            )
        elif name not in bad:
            # As an editor's user-installed extension replaces its built-in one.
            good[name] = Installed(name, folder, KIT, other.distribution if other else None)
    return dict(sorted(good.items())), bad


def installed() -> dict[str, Installed]:
    """Every extension offered through the entry points, by name; those that
    cannot be followed are left out with a warning naming the reason."""
    good, bad = scan()
    for error in bad.values():
        warnings.warn(f"an installed extension is left out: {error}", RuntimeWarning, stacklevel=2)
    return good


def builtin() -> list[Path]:
    """Folders of the extensions shipped with symphony-lab."""
    good, _ = scan()
    shipped = [
        e.folder
        for e in good.values()
        if SHIPPED_BY in (_normal(e.distribution), _normal(e.overrides or ""))
    ]
    if not shipped:
        raise ManifestError(
            "no shipped extension is registered: symphony-lab's entry points are missing "
            "(install it, e.g. pip install -e . or ./lab, rather than adding it to sys.path)"
        )
    return shipped


def find(name: str) -> Path:
    """The folder of the installed extension ``name``; ``ManifestError`` says
    why it cannot be followed, or lists what is installed when none has that name."""
    good, bad = scan()
    if name in bad:
        raise bad[name]
    if name not in good:
        raise ManifestError(
            f"no extension {name!r} is installed (installed: {', '.join(good) or 'none'}); "
            "give a folder's path, or install a package that offers it"
        )
    return good[name].folder


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
