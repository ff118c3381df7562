"""``symphony kit``: package, sign, resolve and install extensions.

symphony kit pack PATH                 NAME-VERSION.symph from an extension's folder
symphony kit keygen                    a publisher's key pair (minisign's format)
symphony kit sign PACKAGE --key K.key  PACKAGE.minisig beside it
symphony kit verify PACKAGE            against the trusted keys (or --key K.pub)
symphony kit trust K.pub               trust a publisher's key
symphony kit resolve NAME[@RANGE]...   what an install would choose, or why nothing fits
symphony kit install TARGET...         a package file or NAME[@RANGE], with what it needs
symphony kit upgrade|uninstall|rollback|list
symphony kit publish PACKAGE           to the home's local registry (or --registry)
symphony kit search WORDS / info NAME  ranked search; every version of a package
symphony kit registry init|accept|token|add   make, run and use registries
symphony kit serve FOLDER --port 8765  a team registry over HTTP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table

from symphony_lab.kit.home import Kit, add_registry, configured, default_home, registry_keys
from symphony_lab.kit.package import pack, read_package
from symphony_lab.kit.registry import HttpRegistry, Registry, RegistryStore
from symphony_lab.kit.serve import serve
from symphony_lab.kit.trust import Keyring, keygen, sign_package, signature_path, verify_package
from symphony_lab.pit import KitError
from symphony_lab.sdk.manifest import ManifestError

app = typer.Typer(
    no_args_is_help=True, help="Orchestra Kit: extension packages, signed and resolved."
)
console = Console(highlight=False)

Home = Annotated[
    Path | None,
    typer.Option("--home", help="where extensions are installed (default: $SYMPHONY_HOME)"),
]
Sources = Annotated[
    list[Path] | None,
    typer.Option("--source", "-s", help="a folder of packages to install from (repeatable)"),
]


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Errors of the user's making, as one line."""
    try:
        yield
    except (KitError, ManifestError, OSError) as e:
        raise click.ClickException(str(e)) from None


def _kit(home: Path | None, sources: list[Path] | None, allow_unsigned: bool = False) -> Kit:
    with _errors():
        return Kit(home, sources=sources or [], allow_unsigned=allow_unsigned)


@app.command("pack")
def kit_pack(
    path: Annotated[Path, typer.Argument(help="an extension's folder (with symphony.toml)")],
    out: Annotated[Path, typer.Option(help="the folder to write the package in")] = Path("."),
) -> None:
    """Make NAME-VERSION.symph: the files, their SHA-256s; the same folder, the same bytes."""
    with _errors():
        made = pack(path, out)
        _, info = read_package(made)
    console.print(f"{made} ({info.size} bytes, {len(info.files)} files) sha256:{info.digest}")


@app.command("keygen")
def kit_keygen(
    out: Annotated[Path, typer.Option(help="the folder for NAME.pub and NAME.key")] = Path("."),
    name: Annotated[str, typer.Option(help="the files' base name")] = "symphony",
    force: Annotated[bool, typer.Option(help="replace existing key files")] = False,
) -> None:
    """A publisher's Ed25519 key pair, in minisign's format."""
    with _errors():
        keys = keygen(out, name, force=force)
    console.print(f"key {keys.key_id}: public {keys.public}, secret {keys.secret} (keep it secret)")


@app.command("sign")
def kit_sign(
    package: Annotated[Path, typer.Argument(help="a .symph file")],
    key: Annotated[Path, typer.Option("--key", "-k", help="the secret key file")],
) -> None:
    """Write PACKAGE.minisig; `minisign -Vm PACKAGE -p KEY.pub` checks it too."""
    with _errors():
        console.print(f"wrote {sign_package(package, key)}")


@app.command("verify")
def kit_verify(
    package: Annotated[Path, typer.Argument(help="a .symph file (its .minisig beside it)")],
    key: Annotated[
        list[Path] | None, typer.Option("--key", "-k", help="a public key to trust (repeatable)")
    ] = None,
    home: Home = None,
) -> None:
    """Check a package's signature against the given keys, or the trusted ones."""
    with _errors():
        ring = Keyring.of(key) if key else Keyring.load([(home or default_home()) / "keys"])
        data, _ = read_package(package)
        info, key_id = verify_package(data, signature_path(package).read_text(), ring, package)
    console.print(f"{info.id}: signed by key {key_id}, sha256:{info.digest}")


@app.command("trust")
def kit_trust(
    key: Annotated[Path, typer.Argument(help="a publisher's .pub file")],
    registry: Annotated[
        str | None, typer.Option("--registry", "-r", help="trust it for this added registry only")
    ] = None,
    home: Home = None,
) -> None:
    """Trust packages signed by this key: from anywhere, or from one registry."""
    with _errors():
        kit = Kit(home)
        folder = kit.keys_dir
        if registry is not None:
            folder = registry_keys(kit.home, _registry(registry, home).public_key)
        key_id = kit.keyring.trust(folder, key)
    where = f" for {registry}" if registry else ""
    console.print(f"trusted key {key_id}{where}")


@app.command("resolve")
def kit_resolve(
    request: Annotated[list[str], typer.Argument(help="NAME or NAME@RANGE, e.g. text@^1.2")],
    sources: Sources = None,
    home: Home = None,
) -> None:
    """What an install would choose: the newest versions that fit every range."""
    kit = _kit(home, sources)
    wanted = {n: r or "*" for n, _, r in (t.partition("@") for t in request)}
    with _errors():
        plan = kit.resolve(wanted)
    for name, candidate in plan.items():
        console.print(f"{name} {candidate.version}  ({candidate.origin})")


def _confirm(text: str) -> bool:
    console.print(text)
    return typer.confirm("accept these permissions?", default=False)


@app.command("install")
def kit_install(
    targets: Annotated[list[str], typer.Argument(help="a .symph file, NAME or NAME@RANGE")],
    sources: Sources = None,
    home: Home = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="accept the permissions shown")] = False,
    allow_unsigned: Annotated[
        bool, typer.Option(help="install packages with no signature")
    ] = False,
) -> None:
    """Install extensions with what they depend on: verified, reviewed, switched in atomically."""
    kit = _kit(home, sources, allow_unsigned)
    with _errors():
        changes = kit.install(*targets, yes=yes, confirm=_confirm)
    console.print(f"installed {', '.join(changes)}" if changes else "nothing to do")


@app.command("upgrade")
def kit_upgrade(
    names: Annotated[list[str] | None, typer.Argument(help="extensions (default: all)")] = None,
    sources: Sources = None,
    home: Home = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="accept widened permissions")] = False,
) -> None:
    """Move extensions to the newest versions their ranges allow; the old one stays for rollback."""
    kit = _kit(home, sources)
    with _errors():
        changes = kit.upgrade(*(names or []), yes=yes, confirm=_confirm)
    console.print(f"upgraded {', '.join(changes)}" if changes else "everything is up to date")


@app.command("uninstall")
def kit_uninstall(name: str, home: Home = None) -> None:
    """Remove an extension (refused while another needs it)."""
    with _errors():
        _kit(home, None).uninstall(name)
    console.print(f"uninstalled {name}")


@app.command("rollback")
def kit_rollback(name: str, home: Home = None) -> None:
    """Return an extension to the version it had before its last change."""
    with _errors():
        version = _kit(home, None).rollback(name)
    console.print(f"{name} is back at {version}")


@app.command("list")
def kit_list(home: Home = None) -> None:
    """The extensions Orchestra Kit installed."""
    table = Table("extension", "version", "previous", "signed by", "sha256")
    for ext in _kit(home, None).installed().values():
        table.add_row(
            ext.name, ext.version, ext.previous or "", ext.key_id or "unsigned", ext.digest[:16]
        )
    console.print(table)


registry_app = typer.Typer(no_args_is_help=True, help="Make, run and use registries.")
app.add_typer(registry_app, name="registry")

Location = Annotated[
    str | None,
    typer.Option("--registry", "-r", help="an added registry's URL or folder (default: the first)"),
]
Token = Annotated[
    str | None, typer.Option(help="an API token of the registry", envvar="SYMPHONY_KIT_TOKEN")
]


def _registry(location: str | None, home: Path | None, token: str | None = None) -> Registry:
    """The added registry at ``location``, or the home's first one."""
    with _errors():
        found = configured(home or default_home())
    if location is None:
        if not found:
            raise click.ClickException("no registry yet: publish a package, or add one")
        return found[0]
    for r in found:
        where = r.url if isinstance(r, HttpRegistry) else str(getattr(r, "folder", ""))
        if location.rstrip("/") in (where, r.name):
            if token and isinstance(r, HttpRegistry):
                r.token = token
            return r
    raise click.ClickException(f"registry {location!r} is not added: symphony kit registry add")


@app.command("publish")
def kit_publish(
    package: Annotated[Path, typer.Argument(help="a signed .symph file")],
    registry: Location = None,
    token: Token = None,
    home: Home = None,
) -> None:
    """Publish a signed package (to the home's local registry unless --registry names one)."""
    kit = _kit(home, None)
    target = _registry(registry, home, token) if registry else None
    with _errors():
        done = kit.publish(package, target)
    console.print(f"published {done['name']}@{done['version']} sha256:{done['sha256']}")


@app.command("search")
def kit_search(
    words: Annotated[list[str], typer.Argument(help="words of names, descriptions, functions")],
    registry: Location = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    home: Home = None,
) -> None:
    """Search a registry's packages, best match first."""
    r = _registry(registry, home)
    with _errors():
        hits = r.search(" ".join(words), limit)
    table = Table("package", "version", "description", "score")
    for h in hits:
        table.add_row(h.name, h.version, h.description, f"{h.score:.3g}")
    console.print(table)


@app.command("info")
def kit_info(name: str, registry: Location = None, home: Home = None) -> None:
    """Every version of a package a registry holds."""
    r = _registry(registry, home)
    with _errors():
        versions = r.versions(name)
    table = Table("version", "sha256", "signed by", "dependencies")
    for v in versions:
        deps = ", ".join(f"{k} {w}" for k, w in v["dependencies"].items())
        table.add_row(v["version"], v["sha256"][:16], v["key_id"], deps)
    console.print(f"{name}: {versions[-1]['description']}" if versions else f"{name}: no versions")
    console.print(table)


@registry_app.command("init")
def registry_init(
    folder: Path,
    name: Annotated[str, typer.Option(help="the registry's name")],
    private: Annotated[bool, typer.Option(help="reading needs a token too")] = False,
) -> None:
    """Make a registry in FOLDER with the key that signs its index (give users registry.pub)."""
    with _errors():
        store = RegistryStore.create(folder, name, public_read=not private)
    console.print(f"registry {store.name!r} in {folder}; its index key: {folder / 'registry.pub'}")


@registry_app.command("accept")
def registry_accept(
    folder: Path, key: Annotated[Path, typer.Argument(help="a publisher's .pub")]
) -> None:
    """Accept packages signed by this publisher's key."""
    with _errors():
        key_id = RegistryStore(folder).accept_publisher(key)
    console.print(f"accepting packages signed by {key_id}")


@registry_app.command("token")
def registry_token(folder: Path, label: Annotated[str, typer.Option(help="who it is for")]) -> None:
    """A new API token for publishing (and reading, if private); shown once."""
    with _errors():
        token = RegistryStore(folder).add_token(label)
    print(token)


@registry_app.command("add")
def registry_add(
    location: Annotated[str, typer.Argument(help="a registry's folder or URL")],
    key: Annotated[Path, typer.Option(help="its registry.pub (the key that signs its index)")],
    token: Token = None,
    home: Home = None,
) -> None:
    """Install from this registry too; its index must be signed by KEY."""
    with _errors():
        key_id = add_registry(home or default_home(), location, key, token)
    console.print(f"added {location} (index key {key_id})")


@app.command("serve")
def kit_serve(
    folder: Annotated[Path, typer.Argument(help="a registry folder (symphony kit registry init)")],
    host: Annotated[str, typer.Option(help="the address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the port")] = 8765,
) -> None:
    """Serve a registry over HTTP for a team (publishing needs a token)."""
    with _errors():
        store = RegistryStore(folder)
    serve(store, host, port)
