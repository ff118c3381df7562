"""``symphony.toml``: what an extension is, offers, needs and may do.

The contract between an extension and the host that runs it: the SDK reads
it in the extension's process, the Stage reads it on the host. Validated with
pydantic. A bad manifest raises :class:`ManifestError` naming the file, the
field and what was expected; :func:`manifest_schema` exports the JSON Schema
that editors use to complete and check manifests.
"""

from __future__ import annotations

import keyword
import re
import tomllib
import warnings
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from symphony_lab.pit import PitError, RequirementError, kit_check_requirement

MANIFEST_NAME = "symphony.toml"


class ManifestError(PitError, ValueError):
    """A ``symphony.toml`` is invalid; the message names file, field and what was expected."""


class ManifestMigration(UserWarning):
    """A ``symphony.toml`` written for an older symphony-lab whose meaning changed;
    it still loads, and the message says what to write instead."""


# semver.org's grammar: MAJOR.MINOR.PATCH, optional pre-release and build.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$")

Access = Literal["allow", "deny"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Function(_Strict):
    """One function the extension offers."""

    name: str = Field(description="Called by this name over the bus; a Python identifier.")
    description: str = ""
    inputs: dict[str, str] = Field(
        default_factory=dict, description="Argument name -> artifact kind it takes."
    )
    outputs: list[str] = Field(default_factory=list, description="Artifact kinds it produces.")
    input_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the arguments (an object)."
    )
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the result."
    )
    side_effects: list[str] = Field(
        default_factory=list,
        description="What it changes outside its result, as 'domain:access' (file:write, ...).",
    )
    deterministic: bool = True
    cost: float = Field(default=1.0, ge=0, description="Relative cost of one call.")
    latency_ms: float = Field(default=10.0, ge=0, description="Typical duration of one call.")

    @field_validator("name")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not v.isidentifier() or keyword.iskeyword(v) or v.startswith("__"):
            raise ValueError("a Python identifier, not a keyword, not starting with '__'")
        return v

    @field_validator("side_effects")
    @classmethod
    def _effects(cls, v: list[str]) -> list[str]:
        for item in v:
            domain, _, access = item.partition(":")
            if domain not in {"file", "network", "system", "model"} or access not in {
                "read",
                "write",
                "execute",
            }:
                raise ValueError(
                    f"{item!r}: expected 'file|network|system|model' ':' 'read|write|execute'"
                )
        return v


class ConductorHints(_Strict):
    """How the Conductor may use the extension."""

    triggers: list[str] = Field(
        default_factory=list, description="Artifact kinds or goal words that activate it."
    )
    depends_on: list[str] = Field(
        default_factory=list, description="Extensions that must be loaded too."
    )
    conflicts: list[str] = Field(
        default_factory=list, description="Extensions it must not run beside."
    )
    parallel: bool = Field(default=True, description="Calls may run alongside other extensions.")
    failure_critical: bool = Field(
        default=False, description="A failure ends the run instead of being skipped."
    )


class QuestHints(_Strict):
    """Whether the extension's functions may become a Function Quest level."""

    trainable: bool = False
    difficulty: Literal["easy", "medium", "hard", "expert"] = "medium"


class Grant(_Strict):
    read: Access = "deny"
    write: Access = "deny"
    execute: Access = "deny"


#: Placeholders a file permission may start with: the extension's folder, its
#: work folder, the user's home, and the folder the host runs in.
PLACEHOLDERS = ("$EXT", "$WORK", "$HOME", "$CWD")
# Environment names that would run code before the sandbox is sealed: the
# loader's preloads, the interpreter's start-up hooks and paths.
_RESERVED_ENV = ("LD_", "PYTHON")


class FileAccess(_Strict):
    """Paths the extension may read, and paths it may write (which it may read
    too). Each is absolute or starts with a placeholder: ``$EXT`` (its folder),
    ``$WORK`` (its work folder), ``$HOME`` (the user's home), ``$CWD`` (the
    folder the host runs in). Its own folder and the Python runtime are always
    readable, its work folder always writable."""

    read: list[str] = Field(default_factory=lambda: ["$EXT"])
    write: list[str] = Field(default_factory=lambda: ["$WORK"])

    @field_validator("read", "write")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for item in v:
            head = item.split("/", 1)[0]
            if head.startswith("$") and head not in PLACEHOLDERS:
                raise ValueError(
                    f"{item!r}: unknown placeholder {head} (known: {', '.join(PLACEHOLDERS)})"
                )
            if not head.startswith("$") and not item.startswith("/"):
                raise ValueError(f"{item!r}: an absolute path or one starting with $EXT/$WORK/...")
            if ".." in item.split("/"):
                raise ValueError(f"{item!r}: no '..' in a granted path")
        return v

    def allows(self, access: str) -> bool:
        return bool(getattr(self, access, None))


class ModelAccess(_Strict):
    """The instruments (and other extensions) it may call through the Stage,
    with ``ctx.call``: an extension's name allows all its functions,
    ``"extension.function"`` one of them."""

    call: list[str] = Field(default_factory=list)

    @field_validator("call")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        for item in v:
            name, _, function = item.partition(".")
            if not _NAME.match(name) or (function and not function.isidentifier()):
                raise ValueError(f"{item!r}: an extension's name, or 'extension.function'")
        return v

    def allows_call(self, target: str) -> bool:
        return target in self.call or target.partition(".")[0] in self.call


class Permissions(_Strict):
    """What the extension may touch. Network and running programs are denied
    unless allowed; files are limited to the paths listed, calls to other
    extensions to the ones ``model.call`` lists."""

    file: FileAccess = FileAccess()
    network: Grant = Grant()
    system: Grant = Grant()
    model: ModelAccess = ModelAccess()

    def allows(self, domain: str, access: str) -> bool:
        if domain == "file":
            return self.file.allows(access)
        if domain == "model":
            return bool(self.model.call)
        return bool(getattr(getattr(self, domain), access) == "allow")


class Resources(_Strict):
    """Limits the host enforces with rlimits, and the extension's concurrency."""

    # The upper bounds keep each limit inside what setrlimit takes and what a
    # machine has; past them a typo (an extra zero) would fail deep in the Stage.
    memory_mb: int | None = Field(
        default=None,
        gt=0,
        le=1 << 20,
        description="Address-space limit (RLIMIT_AS), in MiB; at most 1048576 (1 TiB).",
    )
    cpu_seconds: int | None = Field(
        default=None,
        gt=0,
        le=7 * 24 * 3600,
        description="CPU time limit (RLIMIT_CPU); at most a week.",
    )
    open_files: int = Field(default=256, gt=8, le=1 << 20, description="RLIMIT_NOFILE.")
    processes: int = Field(
        default=256,
        gt=0,
        le=1 << 16,
        description="Processes and threads it may have at once: a pids cgroup (or, for a "
        "user other than root, RLIMIT_NPROC beyond the user's count) stops fork bombs.",
    )
    disk_mb: int = Field(
        default=1024,
        gt=0,
        le=1 << 24,
        description="What its work folder may hold, in MiB (a tmpfs of that size; where the "
        "kernel has no user namespaces, RLIMIT_FSIZE and a check at each heartbeat).",
    )
    max_concurrency: int = Field(default=1, ge=1, le=256, description="Calls handled at once.")


class Hooks(_Strict):
    """Names of functions in the entry module, called at each step of the lifecycle."""

    on_load: str | None = None
    on_activate: str | None = None
    on_deactivate: str | None = None
    on_unload: str | None = None

    @field_validator("on_load", "on_activate", "on_deactivate", "on_unload")
    @classmethod
    def _hook(cls, v: str | None) -> str | None:
        if v is not None and not v.isidentifier():
            raise ValueError("the name of a function in the entry module")
        return v


class Manifest(_Strict):
    """The whole ``symphony.toml``."""

    name: str = Field(description="Lower-case letters, digits, '-' and '_'; starts with a letter.")
    version: str = Field(description="Semantic version, e.g. 1.4.0.")
    kind: Literal["instrument", "operator", "motif"]
    description: str = ""
    entry: str | None = Field(
        default=None, description="Python 'module' or 'module:attr' run by the SDK runtime."
    )
    executable: str | None = Field(
        default=None,
        description="A program that speaks the bus, relative to the manifest's folder.",
    )
    functions: list[Function] = Field(default_factory=list)
    conductor: ConductorHints = ConductorHints()
    function_quest: QuestHints = QuestHints()
    permissions: Permissions = Permissions()
    resources: Resources = Resources()
    hooks: Hooks = Hooks()
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the process."
    )
    pass_env: list[str] = Field(
        default_factory=list,
        description="Names of host environment variables passed through (API keys, say); "
        "everything else is scrubbed.",
    )
    dependencies: dict[str, str] = Field(
        default_factory=dict,
        description="Other extensions it calls, by name, with a semantic-version range each "
        "('^1.2', '~0.3.1', '>=1, <3', '=2.0.0'), resolved by symphony kit.",
    )
    requires: list[str] = Field(
        default_factory=list,
        description="Python distributions the extension imports, as requirements "
        "('httpx>=0.27'); checked before it starts.",
    )
    # Where the manifest was read from; set by load_manifest, not by the file.
    folder: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """``[permissions.file]`` once took read/write = "allow"/"deny", meaning
        anywhere or nowhere, and nothing enforced it; it now lists paths."""
        if not isinstance(data, dict) or not isinstance(data.get("permissions"), dict):
            return data
        model = data["permissions"].get("model")
        if isinstance(model, dict) and any(isinstance(v, str) for v in model.values()):
            # model = { read/execute = "allow" } granted nothing enforced.
            data = {**data, "permissions": {**data["permissions"], "model": {"call": []}}}
            if "allow" in model.values():
                warnings.warn(
                    f"extension {data.get('name', '?')!r}: [permissions.model] "
                    "read/write/execute no longer mean anything; list the extensions it "
                    'calls through the Stage instead, e.g. call = ["embed", "llm.chat"].',
                    ManifestMigration,
                    stacklevel=2,
                )
        file = data["permissions"].get("file")
        if not isinstance(file, dict) or not any(isinstance(v, str) for v in file.values()):
            return data
        old = dict(file)
        new: dict[str, list[str]] = {
            "read": ["$EXT"],
            "write": ["$WORK"] if old.get("write") == "allow" else [],
        }
        widened = [a for a in ("read", "write") if old.get(a) == "allow"]
        if widened:
            warnings.warn(
                f"extension {data.get('name', '?')!r}: [permissions.file] "
                + " and ".join(f'{a} = "allow"' for a in widened)
                + " meant anywhere and was never enforced; now the kernel enforces paths: "
                "it reads its own folder and the Python runtime, and writes its work folder. "
                'List what it needs, e.g. read = ["$EXT", "$HOME/data"], '
                'write = ["$WORK"].',
                ManifestMigration,
                stacklevel=2,
            )
        extra = {k: v for k, v in old.items() if k not in ("read", "write", "execute")}
        permissions = {**data["permissions"], "file": {**new, **extra}}
        return {**data, "permissions": permissions}

    @field_validator("env", "pass_env")
    @classmethod
    def _env_names(cls, v: Any) -> Any:
        for name in v:
            if name.upper().startswith(_RESERVED_ENV):
                raise ValueError(
                    f"{name!r}: names starting with LD_ or PYTHON are the Stage's "
                    "(they would run code before the sandbox is sealed)"
                )
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("lower-case letters, digits, '-' or '_', starting with a letter")
        return v

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not _SEMVER.match(v):
            raise ValueError("a semantic version such as 1.0.0")
        return v

    @field_validator("dependencies")
    @classmethod
    def _dependencies(cls, v: dict[str, str]) -> dict[str, str]:
        for name, wanted in v.items():
            if not _NAME.match(name):
                raise ValueError(f"{name!r} is not an extension's name")
            try:
                kit_check_requirement(wanted)
            except RequirementError as e:
                raise ValueError(f"{name}: {e}") from None
        return v

    @field_validator("requires")
    @classmethod
    def _requirements(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                Requirement(item)
            except InvalidRequirement as e:
                raise ValueError(
                    f"{item!r} is not a requirement such as 'httpx>=0.27': {e}"
                ) from None
        return v

    @field_validator("entry")
    @classmethod
    def _entry(cls, v: str | None) -> str | None:
        if v is not None and not _ENTRY.match(v):
            raise ValueError("'package.module' or 'package.module:attribute'")
        return v

    @model_validator(mode="after")
    def _one_entry(self) -> Manifest:
        if (self.entry is None) == (self.executable is None):
            raise ValueError("exactly one of 'entry' (Python) or 'executable' must be given")
        names = [f.name for f in self.functions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"function names must be unique; repeated: {', '.join(dupes)}")
        if self.name in self.dependencies:
            raise ValueError(f"extension {self.name!r} lists itself in [dependencies]")
        for f in self.functions:
            for effect in f.side_effects:
                domain, _, access = effect.partition(":")
                # "model:..." says the function trains or runs a model of its
                # own, which needs no grant; [permissions.model] is about calls.
                if domain != "model" and not self.permissions.allows(domain, access):
                    raise ValueError(
                        f"function {f.name!r} declares side effect {effect!r} but "
                        f"[permissions] denies {domain} {access}"
                    )
        return self

    def function(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(f"extension {self.name!r} has no function {name!r}")

    def missing(self) -> list[str]:
        """Its ``requires`` not met in this environment: not installed, or
        installed at a version outside the range."""
        out = []
        for item in self.requires:
            req = Requirement(item)
            try:
                have = version(req.name)
            except PackageNotFoundError:
                out.append(item)
                continue
            if not req.specifier.contains(have, prereleases=True):
                out.append(f"{item} (installed: {have})")
        return out


def _describe(err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    # pydantic's "Input should be 'a' or 'b'" reads as "expected 'a' or 'b'".
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
    if err["type"] == "missing":
        return f"field '{loc}': required but missing"
    if err["type"] == "extra_forbidden":
        return f"field '{loc}': unknown field"
    got = err.get("input")
    shown = repr(got) if not isinstance(got, dict) else "a table"
    return f"field '{loc}': expected {msg[0].lower() + msg[1:]} (got {shown})"


def parse_manifest(data: dict[str, Any], source: str | Path = "<manifest>") -> Manifest:
    """Validates already-parsed TOML; errors name ``source``."""
    try:
        return Manifest.model_validate(data)
    except ValidationError as e:
        found = [_describe(err) for err in e.errors()]
        if len(found) == 1:  # one line, as the command line prints every error
            raise ManifestError(f"{source}: invalid manifest: {found[0]}") from None
        lines = [f"{source}: invalid manifest"] + [f"  {d}" for d in found]
        raise ManifestError("\n".join(lines)) from None


def load_manifest(path: str | Path) -> Manifest:
    """Reads ``path`` (a ``symphony.toml`` or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: cannot read the manifest: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{path}: not valid TOML: {e}") from None
    if "folder" in data:
        raise ManifestError(f"{path}: field 'folder': unknown field")
    folder = path.parent.resolve()
    m = parse_manifest(data, path).model_copy(update={"folder": folder})
    if m.executable is not None:
        exe = folder / m.executable
        if not exe.is_file():
            raise ManifestError(
                f"{path}: field 'executable': expected a file, {exe} does not exist"
            )
    return m


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of ``symphony.toml`` (for editors: taplo, VS Code Even Better TOML)."""
    schema = Manifest.model_json_schema(mode="validation")
    schema["properties"].pop("folder", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "symphony.toml"
    return schema
