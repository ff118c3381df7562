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

``serve`` (it loads tornado) and ``dev`` (it hosts a Stage, a layer above the
kit) are defined in :mod:`symphony_lab.cli`, which adds them to :data:`app`;
its ``main`` prints the errors of the user's making (a ``KitError``, a
``ManifestError``, an ``OSError``) as one line, so the commands here let them go.
Plain lines are printed as they are (``typer.echo``); rich is imported by the
commands that draw tables, so that ``kit install`` starts with no more than it
uses.
"""

# No ``from __future__ import annotations``: typer reads every command's
# annotations when it builds the group, and string ones it must evaluate,
# which doubles what building ``symphony kit`` costs before any command runs.
from pathlib import Path
from typing import Annotated

import typer

from symphony_lab.kit.errors import RegistryError
from symphony_lab.kit.home import Kit, Offer, add_registry, configured, default_home, registry_keys
from symphony_lab.kit.package import pack, read_package
from symphony_lab.kit.registry import HttpRegistry, Registry, RegistryStore
from symphony_lab.kit.trust import Keyring, keygen, sign_package, signature_path, verify_package

app = typer.Typer(
    no_args_is_help=True, help="Orchestra Kit: extension packages, signed and resolved."
)

Home = Annotated[
    Path | None,
    typer.Option("--home", help="where extensions are installed (default: $SYMPHONY_HOME)"),
]
Sources = Annotated[
    list[Path] | None,
    typer.Option("--source", "-s", help="a folder of packages to install from (repeatable)"),
]


def _kit(home: Path | None, sources: list[Path] | None, allow_unsigned: bool = False) -> Kit:
    return Kit(home, sources=sources or [], allow_unsigned=allow_unsigned)


@app.command("pack")
def kit_pack(
    path: Annotated[Path, typer.Argument(help="an extension's folder (with symphony.toml)")],
    out: Annotated[Path, typer.Option(help="the folder to write the package in")] = Path("."),
) -> None:
    """Make NAME-VERSION.symph: the files, their SHA-256s; the same folder, the same bytes."""
    made = pack(path, out)
    _, info = read_package(made)
    typer.echo(f"{made} ({info.size} bytes, {len(info.files)} files) sha256:{info.digest}")


@app.command("keygen")
def kit_keygen(
    out: Annotated[Path, typer.Option(help="the folder for NAME.pub and NAME.key")] = Path("."),
    name: Annotated[str, typer.Option(help="the files' base name")] = "symphony",
    force: Annotated[bool, typer.Option(help="replace existing key files")] = False,
) -> None:
    """A publisher's Ed25519 key pair, in minisign's format."""
    keys = keygen(out, name, force=force)
    typer.echo(f"key {keys.key_id}: public {keys.public}, secret {keys.secret} (keep it secret)")


@app.command("sign")
def kit_sign(
    package: Annotated[Path, typer.Argument(help="a .symph file")],
    key: Annotated[Path, typer.Option("--key", "-k", help="the secret key file")],
) -> None:
    """Write PACKAGE.minisig; `minisign -Vm PACKAGE -p KEY.pub` checks it too."""
    typer.echo(f"wrote {sign_package(package, key)}")


@app.command("verify")
def kit_verify(
    package: Annotated[Path, typer.Argument(help="a .symph file (its .minisig beside it)")],
    key: Annotated[
        list[Path] | None, typer.Option("--key", "-k", help="a public key to trust (repeatable)")
    ] = None,
    home: Home = None,
) -> None:
    """Check a package's signature against the given keys, or the trusted ones."""
    ring = Keyring.of(key) if key else Keyring.load([(home or default_home()) / "keys"])
    data, _ = read_package(package)
    info, key_id = verify_package(data, signature_path(package).read_text(), ring, package)
    typer.echo(f"{info.id}: signed by key {key_id}, sha256:{info.digest}")


@app.command("trust")
def kit_trust(
    key: Annotated[Path, typer.Argument(help="a publisher's .pub file")],
    registry: Annotated[
        str | None, typer.Option("--registry", "-r", help="trust it for this added registry only")
    ] = None,
    home: Home = None,
) -> None:
    """Trust packages signed by this key: from anywhere, or from one registry."""
    kit = Kit(home)
    folder = kit.keys_dir
    if registry is not None:
        folder = registry_keys(kit.home, _registry(registry, home).public_key)
    key_id = kit.keyring.trust(folder, key)
    where = f" for {registry}" if registry else ""
    typer.echo(f"trusted key {key_id}{where}")


@app.command("resolve")
def kit_resolve(
    request: Annotated[list[str], typer.Argument(help="NAME or NAME@RANGE, e.g. text@^1.2")],
    sources: Sources = None,
    home: Home = None,
) -> None:
    """What an install would choose: the newest versions that fit every range."""
    kit = _kit(home, sources)
    wanted = {n: r or "*" for n, _, r in (t.partition("@") for t in request)}
    plan = kit.resolve(wanted)
    for name, candidate in plan.items():
        typer.echo(f"{name} {candidate.version}  ({candidate.origin})")


def _confirm(text: str) -> bool:
    typer.echo(text)
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
    changes = kit.install(*targets, yes=yes, confirm=_confirm)
    typer.echo(f"installed {', '.join(changes)}" if changes else "nothing to do")


@app.command("upgrade")
def kit_upgrade(
    names: Annotated[list[str] | None, typer.Argument(help="extensions (default: all)")] = None,
    sources: Sources = None,
    home: Home = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="accept widened permissions")] = False,
) -> None:
    """Move extensions to the newest versions their ranges allow; the old one stays for rollback."""
    kit = _kit(home, sources)
    changes = kit.upgrade(*(names or []), yes=yes, confirm=_confirm)
    typer.echo(f"upgraded {', '.join(changes)}" if changes else "everything is up to date")


@app.command("uninstall")
def kit_uninstall(name: str, home: Home = None) -> None:
    """Remove an extension (refused while another needs it)."""
    _kit(home, None).uninstall(name)
    typer.echo(f"uninstalled {name}")


@app.command("rollback")
def kit_rollback(name: str, home: Home = None) -> None:
    """Return an extension to the version it had before its last change."""
    version = _kit(home, None).rollback(name)
    typer.echo(f"{name} is back at {version}")


@app.command("list")
def kit_list(home: Home = None) -> None:
    """The extensions Orchestra Kit installed."""
    from rich.console import Console
    from rich.table import Table

    table = Table("extension", "version", "previous", "signed by", "sha256")
    for ext in _kit(home, None).installed().values():
        table.add_row(
            ext.name, ext.version, ext.previous or "", ext.key_id or "unsigned", ext.digest[:16]
        )
    Console(highlight=False).print(table)


registry_app = typer.Typer(no_args_is_help=True, help="Make, run and use registries.")
app.add_typer(registry_app, name="registry")

Location = Annotated[
    str | None,
    typer.Option("--registry", "-r", help="an added registry's URL, folder or name (default: all)"),
]
Target = Annotated[
    str | None,
    typer.Option(
        "--registry", "-r", help="an added registry's URL, folder or name (default: the local one)"
    ),
]
Token = Annotated[
    str | None, typer.Option(help="an API token of the registry", envvar="SYMPHONY_KIT_TOKEN")
]


def _registry(location: str, home: Path | None, token: str | None = None) -> Registry:
    """The added registry at ``location`` (a URL, a folder, or a registry's name)."""
    found = configured(home or default_home())
    for r in found:
        where = r.url if isinstance(r, HttpRegistry) else str(getattr(r, "folder", ""))
        if location.rstrip("/") in (where, r.name):
            if token and isinstance(r, HttpRegistry):
                r.token = token
            return r
    raise RegistryError(f"registry {location!r} is not added: symphony kit registry add")


@app.command("publish")
def kit_publish(
    package: Annotated[Path, typer.Argument(help="a signed .symph file")],
    registry: Target = None,
    token: Token = None,
    home: Home = None,
) -> None:
    """Publish a signed package (to the home's local registry unless --registry names one)."""
    kit = _kit(home, None)
    target = _registry(registry, home, token) if registry else None
    done = kit.publish(package, target)
    typer.echo(f"published {done['name']}@{done['version']} sha256:{done['sha256']}")


@app.command("search")
def kit_search(
    words: Annotated[list[str], typer.Argument(help="words of names, descriptions, functions")],
    registry: Location = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    home: Home = None,
) -> None:
    """Search the registries' packages (or one registry's), best match first."""
    from rich.console import Console
    from rich.table import Table

    query = " ".join(words)
    table = Table("package", "version", "description", "registries", "score")
    if registry is not None:
        r = _registry(registry, home)
        offers = [
            Offer(h.name, h.version, h.description, h.score, [r.name])
            for h in r.search(query, limit)
        ]
        errors: list[str] = []
    else:
        offers, errors = _kit(home, None).search(query, limit)
    for o in offers:
        table.add_row(o.name, o.version, o.description, ", ".join(o.registries), f"{o.score:.3g}")
    Console(highlight=False).print(table)
    for e in errors:
        typer.echo(f"warning: {e}", err=True)


@app.command("info")
def kit_info(name: str, registry: Location = None, home: Home = None) -> None:
    """Every version of a package the registries (or one registry) hold."""
    from rich.console import Console
    from rich.table import Table

    registries = [_registry(registry, home)] if registry else _kit(home, None).registries
    table = Table("version", "registry", "sha256", "signed by", "dependencies")
    described = ""
    for r in registries:
        for v in r.versions(name):
            deps = ", ".join(f"{k} {w}" for k, w in v["dependencies"].items())
            table.add_row(v["version"], r.name, v["sha256"][:16], v["key_id"], deps)
            described = v["description"]
    typer.echo(f"{name}: {described}" if described else f"{name}: no versions")
    Console(highlight=False).print(table)


@registry_app.command("init")
def registry_init(
    folder: Path,
    name: Annotated[str, typer.Option(help="the registry's name")],
    private: Annotated[bool, typer.Option(help="reading needs a token too")] = False,
) -> None:
    """Make a registry in FOLDER with the key that signs its index (give users registry.pub)."""
    store = RegistryStore.create(folder, name, public_read=not private)
    typer.echo(f"registry {store.name!r} in {folder}; its index key: {folder / 'registry.pub'}")


@registry_app.command("accept")
def registry_accept(
    folder: Path, key: Annotated[Path, typer.Argument(help="a publisher's .pub")]
) -> None:
    """Accept packages signed by this publisher's key."""
    key_id = RegistryStore(folder).accept_publisher(key)
    typer.echo(f"accepting packages signed by {key_id}")


@registry_app.command("token")
def registry_token(folder: Path, label: Annotated[str, typer.Option(help="who it is for")]) -> None:
    """A new API token for publishing (and reading, if private); shown once."""
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
    key_id = add_registry(home or default_home(), location, key, token)
    typer.echo(f"added {location} (index key {key_id})")
