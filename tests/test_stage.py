"""The Stage with real extension processes: manifests, lifecycle, calls, isolation."""

from __future__ import annotations

import json
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from symphony_lab import pit
from symphony_lab.stage import (
    ExtensionCallError,
    ExtensionTimeout,
    ExtensionUnavailable,
    ManifestError,
    RestartPolicy,
    Stage,
    State,
    load_manifest,
    manifest_schema,
    parse_manifest,
)

BASIC = """
    import os, resource, socket, time
    from symphony_lab.sdk import operator

    @operator
    def add(a, b):
        return a + b

    @add.validate_input
    def _(args):
        if not isinstance(args.get("a"), int):
            raise ValueError("a must be an int")

    @operator
    def env(name):
        return os.environ.get(name)

    @operator
    def limits():
        return [resource.getrlimit(resource.RLIMIT_NOFILE)[0], os.getpgrp() == os.getpid(),
                os.getcwd()]

    @operator
    def connect(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return "connected"
        except OSError as e:
            return f"refused: {e}"

    @operator
    def nap(seconds):
        time.sleep(seconds)
        return seconds

    @operator
    def big(n):
        return b"x" * n

    @operator
    def store(data, ctx):
        h = ctx.put(data, kind="note")
        return [h, ctx.get(h)]
"""
MakeExtension = Callable[..., Path]
FUNCTIONS = ["add", "env", "limits", "connect", "nap", "store", "big"]


# -- manifests ---------------------------------------------------------------------


def test_manifest_errors_name_file_field_and_expectation(tmp_path: Path) -> None:
    bad = tmp_path / "symphony.toml"
    bad.write_text(
        'name = "Bad Name"\nversion = "1.0"\nkind = "widget"\nentry = "m"\n'
        "[resources]\nmax_concurrency = 0\nbogus = 1\n"
        '[[functions]]\nname = "f"\nside_effects = ["disk:write"]\n'
    )
    with pytest.raises(ManifestError) as e:
        load_manifest(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{bad}: invalid manifest")
    assert "field 'name': expected lower-case letters" in msg
    assert "field 'version': expected a semantic version such as 1.0.0 (got '1.0')" in msg
    assert "field 'kind': expected 'instrument', 'operator' or 'motif'" in msg
    assert "field 'resources.max_concurrency': expected greater than" in msg
    assert "field 'resources.bogus': unknown field" in msg
    assert "field 'functions.0.side_effects': expected 'disk:write'" in msg


def test_manifest_needs_exactly_one_entry_and_unique_functions() -> None:
    with pytest.raises(ManifestError, match="exactly one of 'entry'"):
        parse_manifest({"name": "x", "version": "1.0.0", "kind": "operator"})
    with pytest.raises(ManifestError, match="repeated: f"):
        parse_manifest(
            {
                "name": "x",
                "version": "1.0.0",
                "kind": "operator",
                "entry": "m",
                "functions": [{"name": "f"}, {"name": "f"}],
            }
        )


def test_manifest_file_problems_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such manifest"):
        load_manifest(tmp_path)
    (tmp_path / "symphony.toml").write_text("name = ")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(tmp_path)


def test_json_schema_is_exported_for_editors() -> None:
    schema = manifest_schema()
    json.dumps(schema)
    assert schema["title"] == "symphony.toml"
    assert {"name", "version", "kind", "functions", "permissions", "resources", "hooks"} <= set(
        schema["properties"]
    )
    assert "folder" not in schema["properties"]


def test_missing_function_fails_at_start_with_the_log(make_extension: MakeExtension) -> None:
    ext = make_extension("half", "from symphony_lab.sdk import operator\n", functions=["gone"])
    stage = Stage([ext])
    with pytest.raises(Exception, match="lists gone but half_ext defines no"):
        stage.start()
    assert stage["half"].state is State.FAILED
    stage.close()


# -- calls -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    root = tmp_path_factory.mktemp("basic")
    folder = root / "basic"
    folder.mkdir()
    import textwrap

    (folder / "basic_ext.py").write_text(textwrap.dedent(BASIC))
    fns = "".join(f'[[functions]]\nname = "{f}"\n' for f in FUNCTIONS)
    (folder / "symphony.toml").write_text(
        'name = "basic"\nversion = "0.1.0"\nkind = "operator"\nentry = "basic_ext"\n'
        + fns
        + "[resources]\nopen_files = 100\nmax_concurrency = 4\n"
    )
    store = pit.ArtifactStore(root / "store")
    os.environ["SYMPHONY_TEST_SECRET"] = "do-not-leak"
    stage = Stage([folder], store=store, heartbeat_interval=0.2).start()
    yield stage
    stage.close()


def test_calls_and_validation(basic: Stage) -> None:
    assert basic.call("basic.add", {"a": 2, "b": 40}) == 42
    with pytest.raises(ExtensionCallError, match="raised ValueError: a must be an int") as e:
        basic.call("basic.add", {"a": "x", "b": 1})
    assert e.value.remote_type == "ValueError"
    with pytest.raises(KeyError, match=r"has no function 'nope'.*add, big, connect"):
        basic.call("basic.nope")
    with pytest.raises(KeyError, match="no extension 'other'"):
        basic.call("other.add")
    with pytest.raises(ValueError, match=r"'extension.function'"):
        basic.call("add")


def test_environment_is_scrubbed(basic: Stage) -> None:
    assert basic.call("basic.env", {"name": "SYMPHONY_TEST_SECRET"}) is None
    assert basic.call("basic.env", {"name": "SYMPHONY_EXTENSION"}) == "basic"


def test_rlimits_group_and_working_folder(basic: Stage) -> None:
    nofile, leader, cwd = basic.call("basic.limits")
    assert nofile == 100
    assert leader, "the extension leads its own process group"
    assert Path(cwd) == basic.root / "basic"


def test_network_is_denied_by_default(basic: Stage) -> None:
    assert pit.network_isolation() is None, "this kernel should allow user+net namespaces"
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        answer = basic.call("basic.connect", {"port": port})
    finally:
        server.close()
    assert answer.startswith("refused"), answer


def test_concurrency_from_the_manifest(basic: Stage) -> None:
    t = time.perf_counter()
    threads = [
        threading.Thread(target=basic.call, args=("basic.nap", {"seconds": 0.4})) for _ in range(4)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert time.perf_counter() - t < 1.2, "four handlers should nap side by side"


def test_artifacts_travel_by_hash(basic: Stage) -> None:
    h, back = basic.call("basic.store", {"data": b"payload"})
    store = pit.ArtifactStore(Path(basic.store_path))
    assert store.get_by_hash(h) == b"payload" == back
    assert store.info(h)["producer"] == "basic"


def test_a_relative_store_is_the_same_store_in_the_extension(
    make_extension: MakeExtension, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extensions run in working folders of their own: a store given by a
    relative path must still be the host's."""
    folder = make_extension(
        "keeper",
        "from symphony_lab.sdk import operator\n\n"
        "@operator\ndef keep(data, ctx):\n    return ctx.put(data, kind='note')\n",
        functions=["keep"],
    )
    monkeypatch.chdir(tmp_path)
    store = pit.ArtifactStore("relative-store")
    with Stage([folder], store=store) as stage:
        h = stage.call("keeper.keep", {"data": b"kept"})
    assert store.get_by_hash(h) == b"kept"


def test_call_many_and_states(basic: Stage) -> None:
    assert basic.call_many("basic.add", [{"a": i, "b": 1} for i in range(50)]) == list(range(1, 51))
    assert basic.states() == {"basic": "healthy"}


def test_asyncio_calls_and_cancellation(basic: Stage) -> None:
    import asyncio

    async def scenario() -> None:
        assert await basic.acall("basic.add", {"a": 1, "b": 2}) == 3
        task = asyncio.ensure_future(basic.acall("basic.nap", {"seconds": 5}))
        await asyncio.sleep(0.1)
        task.cancel()
        t = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.perf_counter() - t < 1
        calls = (basic.acall("basic.add", {"a": i, "b": i}) for i in range(8))
        assert await asyncio.gather(*calls) == [2 * i for i in range(8)]

    restarts = basic["basic"].restarts
    asyncio.run(scenario())
    time.sleep(1.0)  # a cancelled call must not be mistaken for a broken extension
    assert basic["basic"].restarts == restarts
    assert basic.call("basic.add", {"a": 1, "b": 1}) == 2


def test_allowed_network_is_reachable(make_extension: MakeExtension) -> None:
    ext = make_extension(
        "netok",
        BASIC,
        functions=FUNCTIONS,
        toml_extra="[permissions.network]\nread = 'allow'\nwrite = 'allow'\n",
    )
    server = socket.create_server(("127.0.0.1", 0))
    with Stage([ext]) as stage:
        assert stage.call("netok.connect", {"port": server.getsockname()[1]}) == "connected"
    server.close()


def test_stopped_stage_refuses_calls(make_extension: MakeExtension) -> None:
    ext = make_extension("brief", BASIC, functions=FUNCTIONS)
    stage = Stage([ext]).start()
    pid = stage["brief"].pid
    stage.close()
    assert stage["brief"].state is State.TERMINATED
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ExtensionUnavailable, match="is stopped"):
        stage.call("brief.add", {"a": 1, "b": 1})


def test_cpu_limit_from_the_manifest(make_extension: MakeExtension) -> None:
    ext = make_extension(
        "burner",
        "from symphony_lab.sdk import operator\n\n@operator\ndef burn():\n    while True:\n"
        "        pass\n",
        functions=["burn"],
        toml_extra="[resources]\ncpu_seconds = 1\n",
    )
    with Stage([ext]) as stage, pytest.raises(ExtensionTimeout, match="SIGXCPU"):
        stage.call("burner.burn", timeout=30)
    assert resource.getrlimit(resource.RLIMIT_CPU)[0] == resource.RLIM_INFINITY


def test_configuration_errors_fail_at_once(make_extension: MakeExtension) -> None:
    ext = make_extension(
        "picky",
        """
        from symphony_lab.sdk import instrument

        @instrument
        def run():
            return 1

        @run.configure
        def _(config):
            if "model" not in config:
                raise ValueError("config needs a 'model'")
        """,
        functions=["run"],
    )
    stage = Stage([ext], restart=RestartPolicy(backoff=0.01))
    with pytest.raises(Exception, match="configure or on_activate raised ValueError"):
        stage.start()
    assert stage["picky"].state is State.FAILED
    assert stage["picky"].restarts == 0
    stage.close()
    with Stage([ext], config={"picky": {"model": "m"}}) as stage:
        assert stage.call("picky.run") == 1


def test_oversized_data_is_refused_with_advice(basic: Stage) -> None:
    with pytest.raises(ValueError, match=r"exceed the bus frame limit.*ArtifactStore"):
        basic.call("basic.env", {"name": "x" * (17 << 20)})
    with pytest.raises(ExtensionCallError, match=r"ResultTooLarge.*ctx.put"):
        basic.call("basic.big", {"n": 17 << 20})
    assert basic.call("basic.add", {"a": 1, "b": 1}) == 2


def test_side_effects_must_be_permitted() -> None:
    with pytest.raises(ManifestError, match="declares side effect 'network:read' but"):
        parse_manifest(
            {
                "name": "x",
                "version": "1.0.0",
                "kind": "operator",
                "entry": "m",
                "functions": [{"name": "f", "side_effects": ["network:read"]}],
            }
        )


def test_pass_env_lets_chosen_variables_through(make_extension: MakeExtension) -> None:
    ext = make_extension(
        "keys",
        BASIC,
        functions=FUNCTIONS,
        toml_extra="",
    )
    toml = ext / "symphony.toml"
    toml.write_text(
        toml.read_text().replace(
            'entry = "keys_ext"', 'entry = "keys_ext"\npass_env = ["SYMPHONY_TEST_KEY"]'
        )
    )
    os.environ["SYMPHONY_TEST_KEY"] = "sk-123"
    with Stage([ext]) as stage:
        assert stage.call("keys.env", {"name": "SYMPHONY_TEST_KEY"}) == "sk-123"


def test_closing_while_extensions_start_leaves_no_process(make_extension: MakeExtension) -> None:
    ext = make_extension("early", BASIC, functions=FUNCTIONS)
    stage = Stage([ext]).start(wait=False)
    time.sleep(0.05)
    workdir = stage.root / "early"
    stage.close()
    assert stage["early"].state is State.TERMINATED
    for exit_ in stage["early"].exits:
        with pytest.raises(ProcessLookupError):
            os.kill(exit_.pid, 0)
    assert stage["early"].pid is None
    assert not workdir.exists()


def test_lifecycle_hooks_run_in_order(make_extension: MakeExtension, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    ext = make_extension(
        "hooked",
        f"""
        from symphony_lab.sdk import operator

        def note(what):
            with open({str(log)!r}, "a") as f:
                f.write(what + "\\n")

        def loaded():
            note("load")

        def activated():
            note("activate")

        def deactivated():
            note("deactivate")

        def unloaded():
            note("unload")

        @operator
        def ping():
            note("call")
            return "pong"
        """,
        functions=["ping"],
        toml_extra="""
        [hooks]
        on_load = "loaded"
        on_activate = "activated"
        on_deactivate = "deactivated"
        on_unload = "unloaded"
        """,
    )
    with Stage([ext], grants={"hooked": {"write": [tmp_path]}}) as stage:
        assert stage.call("hooked.ping") == "pong"
    assert log.read_text().split() == ["load", "activate", "call", "deactivate", "unload"]


def test_dependencies_and_conflicts_are_checked(make_extension: MakeExtension) -> None:
    base = make_extension("base", BASIC, functions=FUNCTIONS)
    needy = make_extension(
        "needy", BASIC, functions=FUNCTIONS, toml_extra="[conductor]\ndepends_on = ['base']\n"
    )
    rival = make_extension(
        "rival", BASIC, functions=FUNCTIONS, toml_extra="[conductor]\nconflicts = ['base']\n"
    )
    with pytest.raises(ManifestError, match="needy depends on base, not on this Stage"):
        Stage([needy])
    with pytest.raises(ManifestError, match="rival conflicts with base, also on this Stage"):
        Stage([base, rival])
    Stage([base, needy]).close()
