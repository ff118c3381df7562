"""Where Orchestra Kit installs extensions, and how a change lands atomically.

::

    $SYMPHONY_HOME/                    (default: $XDG_DATA_HOME/symphony, ~/.local/share/symphony)
      keys/                            the user's keyring: trusted publishers' .pub files
      extensions/NAME/VERSION/         an installed tree, with .symphony-install.json
      extensions/NAME/current          -> VERSION, the one the Stage loads
      extensions/NAME/previous         -> VERSION, what rollback returns to
      staging/, trash/                 in-flight work, cleared on the next open
      symphony.lock                    what was asked for, and each pin with its digest

An install verifies the signature, extracts into ``staging/``, checks every
digest, renames the tree into place, and only then repoints ``current`` with
one ``rename`` of a symbolic link. Killed at any step, the old version is
still ``current`` and whole, and nothing half-written is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from symphony_lab.kit.bundle import BUNDLED, BundledRegistry
from symphony_lab.kit.errors import InstallError, IntegrityError, RegistryError
from symphony_lab.kit.extract import extract
from symphony_lab.kit.index import verify as verify_index
from symphony_lab.kit.package import SUFFIX, FileEntry, PackageInfo, read_info, read_package
from symphony_lab.kit.registry import FolderRegistry, HttpRegistry, Registry, RegistryStore
from symphony_lab.kit.trust import Keyring, signature_path, verify_package
from symphony_lab.pit import (
    KitError,
    PackageIndex,
    ResolutionError,
    kit_key_id,
    kit_matches,
    kit_sort_versions,
)
from symphony_lab.sdk.manifest import Manifest, load_manifest

RECORD = ".symphony-install.json"
LOCK = "symphony.lock"

#: The steps of one package's install, in order, as ``on_step`` hears them.
STEPS = ("verified", "extracted", "placed", "switched", "locked")


def default_home() -> Path:
    if home := os.environ.get("SYMPHONY_HOME"):
        return Path(home)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "symphony"


@dataclass(frozen=True)
class Installed:
    """An extension Orchestra Kit installed."""

    name: str
    version: str
    folder: Path
    digest: str
    key_id: str | None
    previous: str | None
    #: Its ``[dependencies]``, and where it was installed from, as recorded then.
    dependencies: dict[str, str]
    source: str


def permission_lines(m: Manifest) -> list[str]:
    """What an extension may do, one line per domain, as an install shows it."""
    p = m.permissions
    lines = []
    f = p.file
    lines.append(
        f"file: read {', '.join(f.read) or 'nothing'}; write {', '.join(f.write) or 'nothing'}"
    )
    for domain in ("network", "system"):
        grant = getattr(p, domain, None)
        if grant is None:
            continue
        allowed = [a for a in ("read", "write", "execute") if getattr(grant, a, "deny") == "allow"]
        lines.append(f"{domain}: {', '.join(allowed) if allowed else 'nothing'}")
    if p.model.call:
        lines.append(f"calls through the Stage: {', '.join(p.model.call)}")
    if m.pass_env:
        lines.append(f"environment: {', '.join(m.pass_env)}")
    return lines


def consent(package: str, m: Manifest) -> str:
    """What a user is asked to accept before ``package`` is installed."""
    return f"{package} asks for:\n  " + "\n  ".join(permission_lines(m) or ["nothing"])


@dataclass(frozen=True)
class Review:
    """One change an install would make, and what must be accepted for it."""

    name: str
    version: str
    #: The version it replaces, if any.
    installed: str | None
    origin: str
    key_id: str | None
    permissions: list[str]
    #: Whether it may do anything the installed version could not: then
    #: ``text`` must be accepted (``confirm``) or ``yes`` passed.
    widened: bool
    text: str


def widened(old: Manifest | None, new: Manifest) -> bool:
    """Whether ``new`` may do anything ``old`` could not."""
    if old is None:
        return True
    before = {g for line in permission_lines(old) for g in _split(line)}
    return bool({g for line in permission_lines(new) for g in _split(line)} - before)


def _split(line: str) -> set[str]:
    domain, _, rest = line.partition(": ")
    return {f"{domain}:{x.strip()}" for x in rest.split(",") if x.strip() != "nothing"}


def check_installed(folder: str | Path) -> dict[str, Any]:
    """Re-checks an installed tree against the digests recorded at install;
    raises :class:`IntegrityError` naming the first file that differs."""
    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD).read_text())
        files = [
            FileEntry(f["path"], f["sha256"], f["size"], f.get("executable", False))
            for f in record["files"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IntegrityError(
            f"{folder}: its install record {RECORD} is missing or damaged: {e}"
        ) from None
    for f in files:
        path = folder / f.path
        try:
            if path.is_symlink():
                raise IntegrityError(f"{path}: replaced by a symbolic link since install")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            raise IntegrityError(f"{path}: deleted since install") from None
        if digest != f.sha256:
            raise IntegrityError(
                f"{path}: changed since install (its SHA-256 differs from the package's)"
            )
    return dict(record)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Every file under ``folder`` on disk before the tree is renamed into
    place. Side by side: the file system commits concurrent fsyncs together,
    in about half the time of one after another."""
    paths = [os.path.join(d, n) for d, _, names in os.walk(folder) for n in names]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(_fsync_file, paths))
    for d, _, _ in os.walk(folder):
        _fsync_dir(Path(d))


def _point(link: Path, target: str) -> None:
    """Repoints ``link`` at ``target`` in one rename: it is the old or the new, never neither."""
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex}")
    os.symlink(target, tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class Candidate:
    """A version that can be installed, and how to fetch its bytes and signature."""

    name: str
    version: str
    dependencies: dict[str, str]
    #: A package file's path, or the registry's name.
    origin: str
    fetch: Callable[[], tuple[bytes, str | None]]
    #: The digest a registry's signed index promises (None for a file).
    sha256: str | None
    #: Publishers trusted for this registry only, beside the user's own keyring.
    registry_keys: Path | None = None


def _reader(path: Path) -> Callable[[], tuple[bytes, str | None]]:
    def read() -> tuple[bytes, str | None]:
        data, _ = read_package(path)
        sig = signature_path(path)
        return data, sig.read_text() if sig.exists() else None

    return read


def _fetcher(registry: Registry, name: str, version: str) -> Callable[[], tuple[bytes, str | None]]:
    def fetch() -> tuple[bytes, str | None]:
        data, sig = registry.package(name, version)
        return data, sig

    return fetch


@dataclass
class Offer:
    """A package the registries offer: its newest version, and which offer it."""

    name: str
    version: str
    description: str
    score: float
    registries: list[str]


def _kept(ext: Installed) -> Callable[[], tuple[bytes, str | None]]:
    def fetch() -> tuple[bytes, str | None]:
        raise InstallError(
            f"{ext.name}@{ext.version} is installed, but no source offers its package any more"
        )

    return fetch


class Kit:
    """Installs, upgrades, uninstalls and rolls back extensions in a home.

    ``sources`` are folders of packages (``NAME-VERSION.symph`` beside its
    ``.minisig``) to resolve from; package files given to :meth:`install`
    join them; ``registries`` (by default, the home's local registry and
    those added with :func:`add_registry`) add what their signed indexes list.
    ``keyring`` defaults to the home's ``keys/``. ``confirm`` is
    asked to accept an extension's permissions (the text to show) when it is
    first installed or an upgrade widens them; without it, ``yes=True`` must
    be passed. ``on_step(step, name)`` hears each of :data:`STEPS`.
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        sources: Iterable[str | Path] = (),
        keyring: Keyring | None = None,
        registries: Iterable[Registry] | None = None,
        allow_unsigned: bool = False,
        on_step: Callable[[str, str], None] | None = None,
    ) -> None:
        self.home = Path(home) if home is not None else default_home()
        self.sources = [Path(s) for s in sources]
        self.keys_dir = self.home / "keys"
        self.keyring = keyring if keyring is not None else Keyring.load([self.keys_dir])
        self.registries = list(registries) if registries is not None else configured(self.home)
        self.allow_unsigned = allow_unsigned
        self.on_step = on_step
        self.extensions_dir = self.home / "extensions"
        self._recover()

    # -- state on disk ---------------------------------------------------------
    def _recover(self) -> None:
        """Clears what an interrupted change left: it was never ``current``."""
        for leftover in ("staging", "trash"):
            shutil.rmtree(self.home / leftover, ignore_errors=True)
        if self.extensions_dir.is_dir():
            for ext in self.extensions_dir.iterdir():
                for tmp in ext.glob(".current.*"):
                    tmp.unlink(missing_ok=True)
                for tmp in ext.glob(".previous.*"):
                    tmp.unlink(missing_ok=True)

    def installed(self) -> dict[str, Installed]:
        out: dict[str, Installed] = {}
        if not self.extensions_dir.is_dir():
            return out
        for ext in sorted(self.extensions_dir.iterdir()):
            current = ext / "current"
            if not current.is_symlink():
                continue
            folder = ext / os.readlink(current)
            try:
                record = json.loads((folder / RECORD).read_text())
            except (OSError, ValueError):
                continue
            prev = ext / "previous"
            out[ext.name] = Installed(
                ext.name,
                record["version"],
                folder,
                record["sha256"],
                record.get("key_id"),
                os.readlink(prev) if prev.is_symlink() else None,
                record.get("dependencies", {}),
                record.get("source", ""),
            )
        return out

    def lock(self) -> dict[str, Any]:
        path = self.home / LOCK
        if not path.exists():
            return {"requested": {}, "package": []}
        try:
            return tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise InstallError(f"{path}: the lock file is damaged: {e}") from None

    def _write_lock(self, requested: Mapping[str, str]) -> None:
        packages = []
        for ext in self.installed().values():
            packages.append(
                {
                    "name": ext.name,
                    "version": ext.version,
                    "sha256": ext.digest,
                    "key": ext.key_id or "",
                    "source": ext.source,
                    "dependencies": [f"{k} {v}" for k, v in sorted(ext.dependencies.items())],
                }
            )
        doc = {"version": 1, "requested": dict(sorted(requested.items())), "package": packages}
        self.home.mkdir(parents=True, exist_ok=True)
        header = "# symphony.lock: written by symphony kit; pins what is installed.\n"
        _write_atomic(self.home / LOCK, header + tomli_w.dumps(doc))

    # -- what can be installed -------------------------------------------------
    def available(self, extra: Iterable[Path] = ()) -> dict[str, dict[str, Candidate]]:
        """What can be installed, by name and version: the package files in the
        sources and ``extra``, then each registry's signed index (a file wins)."""
        found: dict[str, dict[str, Candidate]] = {}
        for registry in self.registries:
            seen: Path | None
            if isinstance(registry, BundledRegistry):
                seen, keys = None, registry.keys
            else:
                seen, keys = self._seen(registry), registry_keys(self.home, registry.public_key)
            index = verify_index(*registry.index(), registry.public_key, seen)
            for e in index.entries:
                found.setdefault(e.name, {})[e.version] = Candidate(
                    e.name,
                    e.version,
                    e.dependencies,
                    index.registry,
                    _fetcher(registry, e.name, e.version),
                    e.sha256,
                    keys,
                )
        files = [p for s in self.sources if s.is_dir() for p in sorted(s.glob(f"*{SUFFIX}"))]
        for path in [*files, *extra]:
            _, info = read_package(path)
            found.setdefault(info.name, {})[info.version] = Candidate(
                info.name, info.version, info.manifest.dependencies, str(path), _reader(path), None
            )
        # What is installed stays a choice when its source is gone (a package
        # file from elsewhere): keeping it fetches nothing.
        for ext in self.installed().values():
            if ext.version not in found.setdefault(ext.name, {}):
                found[ext.name][ext.version] = Candidate(
                    ext.name, ext.version, ext.dependencies, str(ext.folder), _kept(ext), None
                )
        return found

    def search(self, query: str, limit: int = 20) -> tuple[list[Offer], list[str]]:
        """Every registry's hits for ``query``, one per package (its newest
        version), best first; and each registry that could not answer, with why."""
        best: dict[str, Offer] = {}
        errors = []
        for registry in self.registries:
            try:
                hits = registry.search(query, limit)
            except (KitError, OSError) as e:
                errors.append(f"{registry.name}: {e}")
                continue
            for h in hits:
                have = best.get(h.name)
                if have is None:
                    best[h.name] = Offer(h.name, h.version, h.description, h.score, [registry.name])
                    continue
                have.registries.append(registry.name)
                if kit_sort_versions([have.version, h.version])[-1] == h.version:
                    have.version, have.description = h.version, h.description
                have.score = max(have.score, h.score)
        ranked = sorted(best.values(), key=lambda o: (-o.score, o.name))
        return ranked[:limit], errors

    def _seen(self, registry: Registry) -> Path:
        return self.home / "registries" / f"{kit_key_id(registry.public_key)}.seen.json"

    def resolve(
        self, request: Mapping[str, str], extra: Iterable[Path] = ()
    ) -> dict[str, Candidate]:
        """The candidate chosen for each extension the request needs."""
        found = self.available(extra)
        for name, wanted in request.items():
            # PubGrub would say only that the request asks for it: say where we looked.
            if name not in found:
                where = ", ".join(r.name for r in self.registries) or "no registry"
                raise InstallError(
                    f"no package named {name!r} in {where}"
                    + (f" or {', '.join(map(str, self.sources))}" if self.sources else "")
                    + "; find one with symphony kit search"
                )
            if not any(kit_matches(wanted, v) for v in found[name]):
                versions = ", ".join(kit_sort_versions(list(found[name])))
                raise InstallError(f"no version of {name} matches {wanted} (there are: {versions})")
        index = PackageIndex()
        index.extend(
            (c.name, c.version, c.dependencies) for vs in found.values() for c in vs.values()
        )
        solved = index.resolve(dict(request))
        return {name: found[name][version] for name, version in solved.items()}

    # -- changes ---------------------------------------------------------------
    def plan(self, *targets: str | Path, upgrade: bool = False) -> list[Candidate]:
        """What :meth:`install` of ``targets`` would change, in the order it would."""
        return self._plan(targets, upgrade)[0]

    def _plan(
        self, targets: Iterable[str | Path], upgrade: bool
    ) -> tuple[list[Candidate], dict[str, str]]:
        extra: list[Path] = []
        requested = dict(self.lock().get("requested", {}))
        for t in targets:
            if str(t).endswith(SUFFIX):
                _, info = read_package(t)
                extra.append(Path(t))
                requested[info.name] = f"={info.version}"
            else:
                name, _, wanted = str(t).partition("@")
                requested[name] = wanted or "*"
        installed = self.installed()
        if not upgrade:
            # Keep what is installed unless a request moves it: pin it first.
            pinned = {n: f"={e.version}" for n, e in installed.items() if n not in requested}
        else:
            pinned = {}
        try:
            plan = self.resolve({**pinned, **requested}, extra)
        except ResolutionError:
            if upgrade or not pinned:
                raise
            plan = self.resolve(requested, extra)
        changes = [
            c
            for name, c in sorted(plan.items())
            if name not in installed or installed[name].version != c.version
        ]
        return changes, requested

    def review(self, *targets: str | Path, upgrade: bool = False) -> list[Review]:
        """Each change :meth:`install` would make, verified, with the
        permissions to accept: what a user reviews before saying yes."""
        installed = self.installed()
        out = []
        for candidate in self.plan(*targets, upgrade=upgrade):
            _, info, key_id = self._verified(candidate)
            have = installed.get(info.name)
            old = load_manifest(have.folder) if have is not None else None
            out.append(
                Review(
                    info.name,
                    info.version,
                    have.version if have is not None else None,
                    candidate.origin,
                    key_id,
                    permission_lines(info.manifest),
                    widened(old, info.manifest),
                    consent(info.id, info.manifest),
                )
            )
        return out

    def install(
        self,
        *targets: str | Path,
        yes: bool = False,
        confirm: Callable[[str], bool] | None = None,
        upgrade: bool = False,
    ) -> list[str]:
        """Installs each target (a package file, ``NAME`` or ``NAME@RANGE``)
        with what it depends on; returns ``name@version`` of each change."""
        plan, requested = self._plan(targets, upgrade)
        for candidate in plan:
            self._install_one(candidate, yes=yes, confirm=confirm)
        changes = [f"{c.name}@{c.version}" for c in plan]
        self._write_lock(requested)
        self._step("locked", ",".join(changes))
        return changes

    def upgrade(
        self, *names: str, yes: bool = False, confirm: Callable[[str], bool] | None = None
    ) -> list[str]:
        """Moves the named extensions (all, when none is named) to the newest
        versions their requests allow."""
        requested = dict(self.lock().get("requested", {}))
        unknown = [n for n in names if n not in self.installed()]
        if unknown:
            raise InstallError(f"not installed: {', '.join(unknown)}")
        return self.install(
            *(f"{n}@{requested.get(n, '*')}" for n in (names or requested)),
            yes=yes,
            confirm=confirm,
            upgrade=True,
        )

    def _step(self, step: str, name: str) -> None:
        if self.on_step is not None:
            self.on_step(step, name)

    def _verified(self, candidate: Candidate) -> tuple[bytes, PackageInfo, str | None]:
        """The candidate's bytes, checked against its registry's index and its signature."""
        data, sig = candidate.fetch()
        if candidate.sha256 is not None and hashlib.sha256(data).hexdigest() != candidate.sha256:
            raise RegistryError(
                f"{candidate.name}@{candidate.version} from {candidate.origin}: its bytes do not "
                "match the registry's signed index (a package from another snapshot, or altered)"
            )
        key_id: str | None = None
        ring = self.keyring
        if candidate.registry_keys is not None:
            ring = Keyring(self.keyring.keys | Keyring.load([candidate.registry_keys]).keys)
        if sig is not None:
            info, key_id = verify_package(data, sig, ring, candidate.origin)
        elif self.allow_unsigned:
            info = read_info(data, candidate.origin)
        else:
            raise InstallError(
                f"{candidate.origin}: no signature; refusing an unsigned package "
                "(allow_unsigned to install it anyway)"
            )
        if (info.name, info.version) != (candidate.name, candidate.version):
            raise InstallError(
                f"{candidate.origin} holds {info.id}, not {candidate.name}@{candidate.version}"
            )
        return data, info, key_id

    def _install_one(
        self, candidate: Candidate, *, yes: bool, confirm: Callable[[str], bool] | None
    ) -> None:
        data, info, key_id = self._verified(candidate)
        self._step("verified", info.id)
        current = self.installed().get(info.name)
        old = None
        if current is not None:
            old = load_manifest(current.folder)
        if widened(old, info.manifest) and not yes:
            text = consent(info.id, info.manifest)
            if confirm is None or not confirm(text):
                raise InstallError(
                    f"{info.id}: its permissions were not accepted "
                    f"(pass yes=True or --yes to accept them)\n{text}"
                )
        staging = self.home / "staging" / f"{info.name}-{info.version}-{uuid.uuid4().hex[:8]}"
        files = extract(data, staging)
        record = {
            "name": info.name,
            "version": info.version,
            "sha256": info.digest,
            "key_id": key_id,
            "source": candidate.origin,
            "dependencies": info.manifest.dependencies,
            "files": [f.as_json() for f in files],
        }
        (staging / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True))
        _fsync_tree(staging)
        self._step("extracted", info.id)
        home = self.extensions_dir / info.name
        home.mkdir(parents=True, exist_ok=True)
        place = home / info.version
        if place.exists():
            if current is not None and current.version == info.version:
                raise InstallError(
                    f"{info.id} is installed with other bytes (digest {current.digest[:12]}); "
                    "uninstall it first"
                )
            trash = self.home / "trash" / uuid.uuid4().hex
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(place, trash)
        os.rename(staging, place)
        _fsync_dir(home)
        self._step("placed", info.id)
        if current is not None:
            _point(home / "previous", current.version)
        _point(home / "current", info.version)
        self._step("switched", info.id)
        self._prune(home)

    def _prune(self, home: Path) -> None:
        keep = {
            os.readlink(home / link)
            for link in ("current", "previous")
            if (home / link).is_symlink()
        }
        for child in home.iterdir():
            if child.is_dir() and not child.is_symlink() and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)

    def rollback(self, name: str) -> str:
        """Returns ``name`` to the version it had before its last change."""
        home = self.extensions_dir / name
        if not (home / "current").is_symlink():
            raise InstallError(f"{name} is not installed")
        if not (home / "previous").is_symlink():
            raise InstallError(f"{name} has no previous version to roll back to")
        now, before = os.readlink(home / "current"), os.readlink(home / "previous")
        check_installed(home / before)
        _point(home / "current", before)
        _point(home / "previous", now)
        requested = dict(self.lock().get("requested", {}))
        if name in requested:
            requested[name] = f"={before}"
        self._write_lock(requested)
        return before

    def uninstall(self, name: str) -> None:
        """Removes ``name``; refused while another installed extension needs it."""
        installed = self.installed()
        if name not in installed:
            raise InstallError(
                f"{name} is not installed (installed: {', '.join(installed) or 'none'})"
            )
        needs = [
            other.name
            for other in installed.values()
            if other.name != name and name in other.dependencies
        ]
        if needs:
            raise InstallError(
                f"{name} is needed by {', '.join(sorted(needs))}: uninstall those first"
            )
        home = self.extensions_dir / name
        (home / "current").unlink()  # from here on, nothing loads it
        _fsync_dir(home)
        trash = self.home / "trash" / uuid.uuid4().hex
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.rename(home, trash)
        shutil.rmtree(trash, ignore_errors=True)
        requested = dict(self.lock().get("requested", {}))
        requested.pop(name, None)
        self._write_lock(requested)

    def publish(self, package: str | Path, registry: Registry | None = None) -> dict[str, Any]:
        """Publishes a signed package to ``registry`` (by default the home's
        local one, made on first use, which accepts the keys this home trusts)."""
        data, info = read_package(package)
        sig = signature_path(package)
        if not sig.exists():
            raise InstallError(
                f"{package}: no signature ({sig.name}); sign it with symphony kit sign"
            )
        if registry is None:
            store = local_registry(self.home)
            key_id, _ = self.keyring.verify(data, sig.read_text())
            if key_id not in store.publishers.keys:
                store.accept_publisher(self.keys_dir / f"{key_id}.pub")
            registry = FolderRegistry(store.folder)
        answer = registry.publish(data, sig.read_text())
        return {"name": info.name, "version": info.version, "sha256": info.digest} | (
            answer if isinstance(answer, dict) else {}
        )


REGISTRIES = "registries.json"


def registry_keys(home: Path, public_key: str) -> Path:
    """The folder of publishers trusted for one registry (by its index key) only."""
    return home / "registries" / kit_key_id(public_key) / "keys"


def local_registry(home: Path) -> RegistryStore:
    """The home's own registry (``home/registry``), made on first use."""
    folder = home / "registry"
    if (folder / "registry.json").exists():
        return RegistryStore(folder)
    return RegistryStore.create(folder, "local")


def add_registry(
    home: str | Path, location: str, public_key: str | Path, token: str | None = None
) -> str:
    """Adds a registry (a folder, or the URL of ``symphony kit serve``) that
    signs its index with ``public_key``; returns the key's id."""
    home = Path(home)
    text = Path(public_key).read_text()
    key_id = kit_key_id(text)
    path = home / REGISTRIES
    config = json.loads(path.read_text()) if path.exists() else []
    config = [c for c in config if c["location"] != location]
    config.append({"location": location, "key": text, "token": token})
    home.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(config, indent=1))
    os.chmod(path, 0o600)  # it may hold tokens
    return key_id


def configured(home: Path) -> list[Registry]:
    """The bundled registry of the shipped extensions, the home's local
    registry (when it exists), then those added; a later one's package of the
    same version wins."""
    out: list[Registry] = [BundledRegistry()] if BUNDLED.is_dir() else []
    if (home / "registry" / "registry.json").exists():
        out.append(FolderRegistry(home / "registry"))
    path = home / REGISTRIES
    for c in json.loads(path.read_text()) if path.exists() else []:
        if c["location"].startswith(("http://", "https://")):
            out.append(HttpRegistry(c["location"], c["key"], token=c.get("token")))
        else:
            folder = FolderRegistry(c["location"])
            if kit_key_id(folder.public_key) != kit_key_id(c["key"]):
                raise RegistryError(f"{c['location']}: its index key is not the one added for it")
            out.append(folder)
    return out


def installed_folders(home: str | Path | None = None) -> dict[str, Path]:
    """The ``current`` folder of each extension Orchestra Kit installed, by name,
    read without changing anything (the Stage's discovery calls this)."""
    root = (Path(home) if home is not None else default_home()) / "extensions"
    out: dict[str, Path] = {}
    if root.is_dir():
        for ext in sorted(root.iterdir()):
            if (ext / "current").is_symlink() and (ext / "current" / RECORD).is_file():
                out[ext.name] = ext / os.readlink(ext / "current")
    return out
