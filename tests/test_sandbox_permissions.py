"""Permissions as a manifest states them, old and new, and as the Stage
reports what the kernel enforces."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from symphony_lab.sdk.manifest import ManifestError, ManifestMigration, parse_manifest
from symphony_lab.stage import ExtensionCallError, Stage
from symphony_lab.stage.sandbox import Protection, SandboxReport, expand, probe, walls

BASE: dict[str, Any] = {"name": "x", "version": "1.0.0", "kind": "operator", "entry": "m"}


def test_old_file_permissions_load_with_a_migration_message() -> None:
    old = {**BASE, "permissions": {"file": {"read": "allow", "write": "allow"}}}
    with pytest.warns(ManifestMigration, match=r"'x'.*meant anywhere.*read = \[") as caught:
        m = parse_manifest(old)
    assert len(caught) == 1
    assert (m.permissions.file.read, m.permissions.file.write) == (["$EXT"], ["$WORK"])
    # "deny" meant what it means now: no warning, and nothing to write.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = parse_manifest({**BASE, "permissions": {"file": {"read": "deny", "write": "deny"}}})
    assert m.permissions.file.write == []


def test_new_file_permissions_are_checked() -> None:
    def perms(**file: Any) -> dict[str, Any]:
        return {**BASE, "permissions": {"file": file}}

    m = parse_manifest(perms(read=["$EXT", "$HOME/data", "/srv/shared"], write=["$CWD/out"]))
    assert m.permissions.allows("file", "write")
    with pytest.raises(ManifestError, match=r"unknown placeholder \$DATA"):
        parse_manifest(perms(read=["$DATA/x"]))
    with pytest.raises(ManifestError, match="an absolute path or one starting with"):
        parse_manifest(perms(read=["data"]))
    with pytest.raises(ManifestError, match=r"no '\.\.' in a granted path"):
        parse_manifest(perms(write=["$WORK/../other"]))


@pytest.mark.parametrize("name", ["LD_PRELOAD", "PYTHONPATH", "PYTHONSTARTUP", "ld_library_path"])
def test_environment_names_that_run_code_early_are_refused(name: str) -> None:
    with pytest.raises(ManifestError, match="would run code before the sandbox is sealed"):
        parse_manifest({**BASE, "env": {name: "x"}})
    with pytest.raises(ManifestError, match="would run code before the sandbox is sealed"):
        parse_manifest({**BASE, "pass_env": [name]})


def test_paths_resolve_with_placeholders_and_grants(tmp_path: Path) -> None:
    ext, work, data = tmp_path / "ext", tmp_path / "work", tmp_path / "data"
    for p in (ext, work, data):
        p.mkdir()
    assert expand("$EXT/models", ext=ext, work=work, cwd=tmp_path) == ext / "models"
    assert expand("/abs", ext=ext, work=work, cwd=tmp_path) == Path("/abs")
    m = parse_manifest({**BASE, "permissions": {"file": {"read": ["$CWD/missing"]}}}).model_copy(
        update={"folder": ext}
    )
    w = walls(m, work, store=None, grants={"read": [str(data)]}, cwd=tmp_path)
    assert str(data) in w.read
    assert str(ext) in w.read
    assert str(work) in w.write, "its work folder is always its own"
    assert w.deny_tcp
    assert not w.allow_exec
    assert w.skipped == [f"$CWD/missing ({tmp_path / 'missing'})"]
    home = Path.home().resolve()
    assert all(Path(p) not in (home, *home.parents) for p in w.read), "never the home itself"


def test_the_report_names_what_is_missing() -> None:
    report = SandboxReport(
        (
            Protection("landlock", False, "the kernel offers Landlock ABI 3, 6 is needed"),
            Protection("seccomp", True, "44 calls denied"),
        ),
        "degraded",
    )
    assert report.missing == ["landlock"]
    assert report.line() == (
        "sandbox DEGRADED, not enforced: landlock: the kernel offers Landlock ABI 3, 6 is needed"
    )


def test_this_kernel_enforces_every_wall_and_the_stage_says_so() -> None:
    report = probe()
    assert report.complete, report.line()
    with Stage(["text"]) as stage:
        status = stage.status()
        assert status["sandbox_missing"] == []
        assert status["sandbox"].startswith("sandbox: landlock (ABI")
        log = stage["text"].supervisor.log_path.read_text()
        assert report.line() in log
    with pytest.raises(ValueError, match="sandbox must be 'strict' or 'degraded'"):
        Stage(["text"], sandbox="off")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grants name extensions the Stage does not host"):
        Stage(["text"], grants={"files": {"read": ["/"]}})


CALLER = """
from symphony_lab.sdk import operator

@operator
def relay(target, args, ctx):
    return ctx.call(target, args)

@operator
def tries(target, args, ctx):
    try:
        return ["called", ctx.call(target, args)]
    except PermissionError as e:
        return ["refused", str(e)]
"""


def test_an_extension_calls_only_what_its_manifest_lists(make_extension: Any) -> None:
    allowed = make_extension(
        "caller",
        CALLER,
        ["relay", "tries"],
        toml_extra='[permissions.model]\ncall = ["text.split"]\n',
    )
    silent = make_extension("quiet", CALLER, ["relay", "tries"])
    with Stage([allowed, silent, "text"]) as stage:
        # Through the Stage, to the one function the manifest lists.
        args = {"text": "a b c", "sep": " "}
        assert stage.call("caller.relay", ["text.split", args]) == ["a", "b", "c"]
        # Anything else is refused, naming the caller and the target.
        kind, message = stage.call("caller.tries", ["text.join", {"parts": ["a"]}])
        assert kind == "refused"
        assert "'caller' may not call 'text.join'" in message
        assert "call lists text.split" in message
        kind, message = stage.call("caller.tries", ["caller.relay", ["text.split", args]])
        assert (kind, "may not call itself" in message) == ("refused", True)
        # Without [permissions.model], every call is refused (within a heartbeat).
        kind, message = stage.call("quiet.tries", ["text.split", args], timeout=30)
        assert kind == "refused"
        assert "'quiet' may not call 'text.split': its [permissions.model] call lists nothing" in (
            message
        )
        # The callee's own error reaches the caller, typed.
        with pytest.raises(ExtensionCallError, match=r"TypeError|ValueError|text\.split"):
            stage.call("caller.relay", ["text.split", {"text": 3}])


def test_model_permissions_are_checked_and_old_ones_migrate() -> None:
    with pytest.raises(ManifestError, match=r"an extension's name, or 'extension\.function'"):
        parse_manifest({**BASE, "permissions": {"model": {"call": ["Not A Name"]}}})
    with pytest.warns(ManifestMigration, match=r"list the extensions it calls"):
        m = parse_manifest({**BASE, "permissions": {"model": {"read": "allow"}}})
    assert m.permissions.model.call == []
    m = parse_manifest({**BASE, "permissions": {"model": {"call": ["embed", "llm.chat"]}}})
    assert m.permissions.model.allows_call("embed.encode")
    assert m.permissions.model.allows_call("llm.chat")
    assert not m.permissions.model.allows_call("llm.complete")
