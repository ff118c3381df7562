"""``symphony``: train, evaluate and play from the terminal.

    symphony run                      the main job: train, evaluate, report
    symphony train --tier medium      train a Conductor and save it
    symphony eval runs/x/conductor.pt evaluate a saved Conductor
    symphony ext new NAME --kind motif      scaffold an extension with its test
    symphony ext check PATH           validate a symphony.toml and the code against it
    symphony ext list                 the installed extensions (the shipped ones among them)
    symphony ext schema               the JSON Schema of symphony.toml, for editors
    symphony kit pack|sign|install …  extension packages: signed, resolved, installed
    symphony quest play key_and_door  play a level yourself (from Function Quest)
    symphony quest solve hard:7       the exact plan of a level

Sub-commands of other packages join through the ``symphony_lab.cli``
entry-point group (Function Quest adds ``quest``). Commands import what they
use when they run, so that ``symphony ext list`` does not load PyTorch; the
``ext`` and ``kit`` groups and the other packages' sub-commands are made
(imported) only when one of them runs or ``--help`` lists them, so that
``symphony kit install`` loads neither NumPy nor a game, and a package whose
sub-command cannot load takes down only that sub-command.
Arguments are checked before any work: errors of the user's making print
one line and exit with status 1, a malformed command line exits with 2.
"""

# No ``from __future__ import annotations``: typer reads the annotations of
# every command when it builds the group, and string ones it must evaluate,
# which doubles what building it costs before any command runs. Names only
# imported for type checking are quoted.
import contextlib
import difflib
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points, version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from rich.console import Console

    from symphony_lab.conductor import Conductor, Evaluation
    from symphony_lab.sdk.manifest import Manifest
    from symphony_lab.stage.scaffold import Kind

#: The entry-point group through which other packages add sub-commands.
PLUGINS = "symphony_lab.cli"


class _LazyGroup(TyperGroup):
    """The root command: the groups of :data:`LAZY` and the sub-commands of
    other packages are listed by name and made (imported) only when used.

    Typed loosely (``Any``): these override methods of typer's click, which
    is click itself in older typers and a copy of it in newer ones."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(dict.fromkeys([*super().list_commands(ctx), *LAZY, *_plugins()]))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        made = super().get_command(ctx, cmd_name)
        return _lazy_command(cmd_name) if made is None else made

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as e:  # no such command: typer suggests among those made only
            message = getattr(e, "message", None)
            if args and isinstance(message, str) and "Did you mean" not in message:
                others = [n for n in self.list_commands(ctx) if n != args[0]]
                close = difflib.get_close_matches(args[0], others)
                close = [n for n in close if self.get_command(ctx, n) is not None]
                if close:
                    names = ", ".join(map(repr, close))
                    cast("Any", e).message = f"{message.rstrip('.')}. Did you mean {names}?"
            raise


app = typer.Typer(
    cls=_LazyGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Train, evaluate and play: the symphony-lab command line.",
)
ext = typer.Typer(
    no_args_is_help=True, help="Stage extensions: scaffold, check, list, and the manifest's schema."
)


@functools.cache
def _console(stderr: bool = False) -> "Console":
    """rich's console on stdout, or on stderr for errors and warnings, made
    when first used: importing rich takes some 20 ms, which commands that
    print plain lines (``symphony kit``'s, with ``typer.echo``) need not pay."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=stderr)


def _error(message: str) -> None:
    """The one line of an error of the user's making, on stderr."""
    from rich.markup import escape

    _console(stderr=True).print(f"[red]error:[/] {escape(message)}")


#: Environments stepped together at most: each holds its levels and buffers,
#: and past this a run grows by gigabytes for no gain on a workstation.
MAX_ENVS = 64


def _kit() -> typer.Typer:
    """``symphony kit``, with the commands that reach above the kit (``dev``
    hosts a Stage) or load a web server (``serve``: tornado), defined here."""
    from symphony_lab.kit import cli as kit_cli

    kit_cli.app.command("serve")(kit_serve)
    kit_cli.app.command("dev")(kit_dev)
    return kit_cli.app


#: Our command groups, made on first use (``--help`` lists them after the
#: commands of ``app``, in this order).
LAZY: dict[str, Callable[[], typer.Typer]] = {"ext": lambda: ext, "kit": _kit}


@functools.cache
def _plugins() -> dict[str, EntryPoint]:
    """The sub-commands of other packages, by name (a name of ours stays ours)."""
    return {p.name: p for p in entry_points(group=PLUGINS) if p.name not in LAZY}


@functools.cache
def _lazy_command(name: str) -> Any:
    """The command ``name`` of :data:`LAZY` or of another package, made once;
    ``None`` for no such command, or for another package's that cannot load:
    it is named in a warning and left out, so it cannot take the other
    commands down with it."""
    if name in LAZY:
        return _group(LAZY[name](), name)
    plugin = _plugins().get(name)
    if plugin is None:
        return None
    try:
        loaded = plugin.load()
        if not isinstance(loaded, typer.Typer):
            raise TypeError(f"expected a typer.Typer, got {type(loaded).__name__}")
        return _group(loaded, name)
    except Exception as e:  # any error of another package's import
        from rich.markup import escape

        _console(stderr=True).print(
            f"[yellow]warning:[/] the sub-command {name!r} ({plugin.value}) "
            f"cannot load: {escape(repr(e))}"
        )
        return None


def _group(sub: typer.Typer, name: str) -> Any:
    """``sub`` as a click group named ``name``: what ``app.add_typer(sub,
    name=name)`` would make of it."""
    group = typer.main.get_group(sub)
    group.name = name
    return group


class _Fail(Exception):
    """An error to print as one line."""


@contextlib.contextmanager
def _fail_on(*errors: type[BaseException]) -> Iterator[None]:
    """Turns ``errors`` (of the user's making) into one-line failures."""
    try:
        yield
    except errors as e:
        raise _Fail(str(e)) from None


def _file_to_write(path: Path, what: str, example: str) -> None:
    """Refuses, before any work, a ``path`` that cannot take a file: a folder,
    a missing folder, or one this user may not write in."""
    if path.is_dir():
        raise _Fail(f"{what} {path} is a folder: give a file name in it, e.g. {path / example}")
    if not path.parent.is_dir():
        raise _Fail(f"cannot write {what} {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise _Fail(f"cannot write {what} {path}: folder {path.parent} is not writable")


def _levels_exist(*specs: str) -> None:
    """Makes (and closes) the environment of each spec, so that a misspelt
    pack fails in a second, before any training."""
    from symphony_lab.conductor import ConductorError
    from symphony_lab.conductor.envs import make_env

    with _fail_on(ConductorError):
        for spec in specs:
            make_env(spec).close()


def _version(show: bool) -> None:
    if show:
        _console().print(f"symphony-lab {version('symphony-lab')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Train, evaluate and play: the symphony-lab command line."""


#: Errors of the user's making that the layers below raise ("module:Class"):
#: like ``OSError`` and ``_Fail``, each prints as one line. Anything else is a
#: bug and keeps its traceback.
USER_ERRORS = (
    "symphony_lab.pit:KitError",  # Orchestra Kit's: symphony kit …
    "symphony_lab.planning:LevelError",
    "symphony_lab.sdk.manifest:ManifestError",
)


def _raised(*errors: str) -> tuple[type[Any], ...]:
    """The exception classes ``errors`` ("module:Class") of the modules
    imported so far. A command that did not import a module cannot have
    raised its errors, so :func:`main` looks them up once a command has
    raised rather than importing them all (NumPy, pydantic; click, of which
    typer carries a copy of its own) before every command."""
    found = (e.partition(":") for e in errors)
    return tuple(getattr(sys.modules[m], c) for m, _, c in found if m in sys.modules)


def _user_errors() -> tuple[type[Any], ...]:
    return (_Fail, OSError, *_raised(*USER_ERRORS))


def main() -> None:
    """Entry point: runs the app and turns known errors into one line."""
    try:
        # Without standalone mode click returns an Exit's status instead.
        status = app(standalone_mode=False)
        if isinstance(status, int) and status:
            sys.exit(status)
    except _user_errors() as e:
        _error(str(e))
        sys.exit(1)
    except _raised("click:UsageError") as e:  # a bad command line: click shows the usage too
        e.show()
        sys.exit(e.exit_code)
    except _raised("click:ClickException") as e:  # what sub-commands of other packages raise
        _error(e.format_message())
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _console(stderr=True).print("aborted")
        sys.exit(130)
    except Exception as e:  # click's usage errors carry their own exit code
        code = getattr(e, "exit_code", None)
        if code is None:
            raise
        _name_the_value(e)
        if hasattr(e, "show"):
            e.show()
        sys.exit(code)


def _name_the_value(e: Exception) -> None:
    """Typer checks an option through pydantic, whose message says what was
    expected but not what was given: add the value, as click's own do."""
    errors = getattr(e.__cause__, "errors", None)
    message = getattr(e, "message", None)
    if callable(errors) and isinstance(message, str):
        found = errors()
        if found and "input" in found[0]:
            cast("Any", e).message = f"{message} (got {found[0]['input']!r})"


# ---- extensions ----


@ext.command("new")
def ext_new(
    name: Annotated[str, typer.Argument(help="lower-case name, e.g. my-tool")],
    kind: Annotated[
        str, typer.Option(help="operator (code), instrument (a model) or motif (a live view)")
    ] = "operator",
    dir: Annotated[Path, typer.Option(help="the folder that will hold it")] = Path("."),
) -> None:
    """Write NAME/ with symphony.toml, the module and a test that runs it on a Stage."""
    from symphony_lab.stage.scaffold import new_extension

    if kind not in ("operator", "instrument", "motif"):
        raise _Fail(f"--kind must be operator, instrument or motif, got {kind!r}")
    try:
        folder = new_extension(name, cast("Kind", kind), dir)
    except ValueError as e:
        raise _Fail(str(e)) from None
    _console().print(f"created {folder}/ ({kind}); run its test with: pytest {folder}")


@ext.command("check")
def ext_check(path: Annotated[Path, typer.Argument(help="a symphony.toml or its folder")]) -> None:
    """Validate a manifest, then import its entry module in a subprocess and
    check that every function it lists is defined with a matching signature;
    errors name the field or function and what was expected."""
    from symphony_lab.sdk.manifest import load_manifest

    m = load_manifest(path)
    signatures: dict[str, str] = {}
    if m.entry is not None:
        signatures = _check_code(m)
    fns = ", ".join(signatures.get(f.name, f.name) for f in m.functions) or "none listed"
    _console().print(f"{m.name} {m.version} ({m.kind}): valid; functions: {fns}")


#: How long ``ext check`` waits for an entry module to import (a model may load).
CHECK_TIMEOUT_S = 120.0


def _check_code(m: "Manifest") -> dict[str, str]:
    """Runs ``symphony_lab.sdk.check`` on ``m`` in a fresh interpreter:
    importing an extension may do anything, so not in this process."""
    assert m.folder is not None
    try:
        done = subprocess.run(
            [sys.executable, "-m", "symphony_lab.sdk.check", str(m.folder)],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            cwd=m.folder,
        )
    except subprocess.TimeoutExpired:
        raise _Fail(f"{m.name}: importing {m.entry} took over {CHECK_TIMEOUT_S:.0f} s") from None
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise _Fail(f"{m.name}: checking {m.entry} failed: {tail}") from None
    if report["problems"]:
        raise _Fail(f"{m.name}: " + "\n  ".join(report["problems"]))
    return cast("dict[str, str]", report["functions"])


def kit_serve(
    folder: Annotated[Path, typer.Argument(help="a registry folder (symphony kit registry init)")],
    host: Annotated[str, typer.Option(help="the address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the port")] = 8765,
) -> None:
    """Serve a registry over HTTP for a team (publishing needs a token)."""
    from symphony_lab.kit.registry import RegistryStore
    from symphony_lab.kit.serve import serve

    serve(RegistryStore(folder), host, port)


def kit_dev(
    path: Annotated[Path, typer.Argument(help="the extension's folder")],
    call: Annotated[
        str | None, typer.Option(help="a function to call after each reload, e.g. shout")
    ] = None,
    args: Annotated[str, typer.Option(help="its arguments, as JSON")] = "{}",
) -> None:
    """Host the extension on a Stage and reload it whenever its files change (Ctrl-C ends)."""
    from rich.markup import escape

    from symphony_lab.stage import Stage

    try:
        arguments = json.loads(args)
    except ValueError as e:
        raise _Fail(f"--args is not JSON: {e}") from None
    with Stage([path]) as stage:
        (name,) = stage.extensions

        def show(error: BaseException | None) -> None:
            if error is not None:
                _console().print(
                    f"[red]reload failed[/] (the previous code still serves): {escape(str(error))}"
                )
                return
            _console().print(f"reloaded {name}")
            if call is not None:
                try:
                    _console().print(
                        f"{name}.{call} -> {stage.call(f'{name}.{call}', arguments)!r}"
                    )
                except Exception as e:  # the extension's own error: shown, the loop goes on
                    _console().print(f"[red]{name}.{call} failed:[/] {escape(str(e))}")

        with stage.watch(name) as watch:
            watch.on_reload = show
            _console().print(f"watching {path} for {name}; Ctrl-C to stop")
            show(None)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(0.5)


@ext.command("list")
def ext_list() -> None:
    """The installed extensions (the shipped ones among them), and their functions."""
    from rich.table import Table

    from symphony_lab.sdk.manifest import load_manifest
    from symphony_lab.stage.discovery import installed

    table = Table("extension", "kind", "functions", "network", "from")
    for found in installed().values():
        m = load_manifest(found.folder)
        net = "allowed" if m.permissions.allows("network", "read") else "denied"
        source = found.distribution
        if found.overrides:
            source += f" (replaces {found.overrides})"
        table.add_row(m.name, m.kind, ", ".join(f.name for f in m.functions), net, source)
    _console().print(table)


@ext.command("schema")
def ext_schema(
    output: Annotated[Path | None, typer.Option(help="write it here instead of stdout")] = None,
) -> None:
    """The JSON Schema of symphony.toml (for taplo or VS Code's Even Better TOML)."""
    from symphony_lab.sdk.manifest import manifest_schema

    if output is not None:
        _file_to_write(output, "--output", "symphony.schema.json")
    text = json.dumps(manifest_schema(), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n")
        _console().print(f"wrote {output}")


@app.command("train")
def train(
    tier: Annotated[
        str, typer.Option(help="tier or split-tier of the pack to train on")
    ] = "medium",
    steps: Annotated[int, typer.Option(min=1, help="PPO environment steps")] = 30_000,
    envs: Annotated[
        int, typer.Option(min=1, max=MAX_ENVS, help="environments stepped together")
    ] = 8,
    seed: Annotated[int, typer.Option(min=0, help="seeds the weights, the envs and PPO")] = 0,
    pretrain: Annotated[
        bool, typer.Option(help="imitate the env's expert (the exact planner) first")
    ] = True,
    pretrain_episodes: Annotated[
        int, typer.Option(min=1, help="expert episodes to imitate")
    ] = 2000,
    out: Annotated[Path, typer.Option(help="where the checkpoint goes")] = Path("conductor.pt"),
    resume: Annotated[Path | None, typer.Option(help="a checkpoint to continue")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(min=1, help="save every N steps")] = None,
    tensorboard: Annotated[Path | None, typer.Option(help="TensorBoard log folder")] = None,
    threads: Annotated[
        int, typer.Option(min=1, help="PyTorch threads while training (1 shares the machine best)")
    ] = 1,
) -> None:
    """Train a Conductor on a pack of levels and save it."""
    # Paths first: they need no PyTorch, so a typo fails at once.
    _file_to_write(out, "--out", "conductor.pt")
    if tensorboard is not None and tensorboard.exists() and not tensorboard.is_dir():
        raise _Fail(f"--tensorboard {tensorboard} is a file: give a folder for the logs")
    if resume is not None and not resume.is_file():
        raise _Fail(f"--resume {resume}: no such checkpoint file")
    from symphony_lab.conductor import Conductor, ConductorError

    _levels_exist(tier)
    with _fail_on(ConductorError):
        conductor = Conductor.load(resume) if resume else Conductor(seed=seed)
        start = time.perf_counter()
        conductor.train(
            tier,
            total_steps=steps,
            n_envs=envs,
            seed=seed,
            pretrain="expert" if pretrain and resume is None else None,
            pretrain_episodes=pretrain_episodes,
            progress_bar=True,
            checkpoint_every=checkpoint_every,
            checkpoint_dir=out.parent / "checkpoints",
            tensorboard_log=tensorboard,
            threads=threads,
        )
        conductor.save(out)
    _console().print(
        f"trained {conductor.num_timesteps:,} steps in {time.perf_counter() - start:.0f} s"
    )
    _console().print(f"saved {out}")


@app.command("eval")
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="a saved Conductor")],
    pack: Annotated[str, typer.Option(help="split-tier of the levels")] = "test-medium",
    episodes: Annotated[int | None, typer.Option(min=1, help="at most this many levels")] = None,
    baselines: Annotated[
        bool, typer.Option(help="play the baselines on the same episodes beside it")
    ] = True,
    plot: Annotated[Path | None, typer.Option(help="save the figure here")] = None,
    csv: Annotated[Path | None, typer.Option(help="save one row per episode here")] = None,
) -> None:
    """Evaluate a saved Conductor beside the baselines."""
    for target, option, example in ((csv, "--csv", "eval.csv"), (plot, "--plot", "eval.png")):
        if target is not None:
            _file_to_write(target, option, example)
    from symphony_lab.conductor import Conductor, ConductorError

    _levels_exist(pack)
    with _fail_on(ConductorError):
        conductor = Conductor.load(checkpoint)
        ev = conductor.evaluate(pack, episodes=episodes, baselines=baselines)
    print_summary(ev, pack)
    if csv:
        ev.frame.to_csv(csv, index=False)
    if plot:
        ev.plot(plot)


def print_summary(ev: "Evaluation", title: str) -> None:
    from rich.table import Table

    summary = ev.summary()
    table = Table(title=title)
    table.add_column("agent")
    for col in ("levels", "solved", "cost ratio", "median", "calls", "failures"):
        table.add_column(col, justify="right")
    for agent, row in summary.iterrows():
        table.add_row(
            str(agent),
            f"{row['levels']:.0f}",
            f"{row['solve_rate']:.1%}",
            _num(row["cost_ratio"]),
            _num(row["median_ratio"]),
            f"{row['calls']:.1f}",
            f"{row['failures']:.2f}",
        )
    _console().print(table)


def print_breakdown(ev: "Evaluation", title: str) -> None:
    """What the out-of-distribution targets read, per agent."""
    from rich.table import Table

    table = Table(title=f"{title}: cost ratio on solved levels, optional goals as the optimum's")
    table.add_column("agent")
    for col in ("levels", "solved", "deterministic", "flaky", "bonus match"):
        table.add_column(col, justify="right")
    for agent, row in ev.breakdown().iterrows():
        table.add_row(
            str(agent),
            f"{row['levels']:.0f}",
            f"{row['solve_rate']:.1%}",
            _num(row["deterministic"]),
            _num(row["flaky"]),
            _num(row["bonus_match"], ".1%"),
        )
    _console().print(table)


def _num(x: Any, spec: str = ".3f") -> str:
    return "-" if x != x else format(x, spec)


# ---- the main job ----


#: Function Quest's evaluation-only packs: its pipeline families, written
#: apart from the generator, and levels larger than any it trains on.
OOD_PACKS = tuple(
    f"ood-{p}"
    for p in (
        "ml_training",
        "data_engineering",
        "software_release",
        "paper_writing",
        "incident_response",
        "large",
    )
)


@app.command("run")
def run(
    out: Annotated[Path, typer.Option(help="runs/<timestamp>/ is made here")] = Path("runs"),
    steps: Annotated[int, typer.Option(min=1, help="PPO steps after imitation")] = 30_000,
    envs: Annotated[
        int, typer.Option(min=1, max=MAX_ENVS, help="environments stepped together")
    ] = 8,
    seed: Annotated[
        int, typer.Option(min=0, help="seeds training and the evaluations' episodes")
    ] = 0,
    pretrain_episodes: Annotated[
        int, typer.Option(min=1, help="expert episodes to imitate before PPO")
    ] = 2000,
    packs: Annotated[str, typer.Option(help="held-out packs, comma-separated")] = ",".join(
        ["test-medium", "test-hard", "test-expert", *OOD_PACKS]
    ),
    threads: Annotated[
        int, typer.Option(min=1, help="PyTorch threads while training (1 shares the machine best)")
    ] = 1,
) -> None:
    """The main job: train a Conductor on the medium pack, evaluate it on
    held-out packs beside every baseline, and write the tables, plots and
    checkpoint in a run folder (the layout the JupyterLab extension lists)."""
    import pandas as pd

    from symphony_lab.conductor import Conductor, ConductorError, Evaluation
    from symphony_lab.runs import RunError, RunRecord, record
    from symphony_lab.runs.params import check
    from symphony_lab.runs.provenance import provenance
    from symphony_lab.runs.worker import evaluated

    wanted = {
        "env": "medium",
        "steps": steps,
        "seed": seed,
        "n_envs": envs,
        "threads": threads,
        "pretrain_episodes": pretrain_episodes,
    }
    with _fail_on(RunError):
        params = check("train", wanted | {"packs": packs.split(",")}, out)
    if out.exists() and not out.is_dir():
        raise _Fail(f"--out {out} is a file: give the folder that holds the runs")
    _levels_exist(*params["packs"])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = out / stamp
    for n in range(2, 100):  # two runs in one second get folders of their own
        if not folder.exists():
            break
        folder = out / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    rec = RunRecord(
        id=folder.name,
        kind="train",
        params=params,
        status="running",
        started=time.time(),
        pid=os.getpid(),
        provenance=provenance(),
    )
    record.write(folder, rec)
    _console().rule("symphony: train a Conductor on the medium pack")
    start = time.perf_counter()
    conductor = Conductor(seed=seed)
    try:
        with _fail_on(ConductorError):
            conductor.train(
                "medium",
                total_steps=steps,
                n_envs=envs,
                seed=seed,
                pretrain="expert",
                pretrain_episodes=params["pretrain_episodes"],
                progress_bar=True,
                threads=threads,
                checkpoint_every=params["checkpoint_every"],
                checkpoint_dir=folder / "checkpoints",
                callbacks=[lambda row: record.append_event(folder, {"type": "train", **row})],
            )
            trained = time.perf_counter() - start
            path = conductor.save(folder / "conductor.pt")
            record.append_event(folder, {"type": "saved", "path": path.name})
            _console().print(
                f"trained in {trained:.0f} s ({conductor.num_timesteps:,} PPO steps): {path}"
            )
            plot_history(conductor, folder / "training.png")
            ood = []
            for pack in params["packs"]:
                _console().rule(f"evaluate on {pack}")
                ev = conductor.evaluate(pack, seed=seed)
                print_summary(ev, pack)
                evaluated(folder, pack, ev, conductor)
                ev.plot(folder / f"{pack}.png")
                if pack.startswith("ood-"):
                    ood.append(ev.frame.assign(pack=pack))
            if ood:
                ood_ev = Evaluation(pd.concat(ood, ignore_index=True))
                print_breakdown(ood_ev, "out of distribution")
        rec.status = "done"
    except BaseException as e:
        rec.status = "cancelled" if isinstance(e, KeyboardInterrupt) else "failed"
        rec.error = f"{type(e).__name__}: {e}"
        raise
    finally:
        rec.ended = time.time()
        record.write(folder, rec)
    _console().print(
        f"wrote {folder}/: run.json, events.jsonl, conductor.pt, checkpoints/, training.png, "
        "<pack>.csv and <pack>.png"
    )


def plot_history(conductor: "Conductor", path: Path) -> None:
    """The training curve: solve rate and mean cost per rollout."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    h = conductor.history
    if not h:
        return
    steps = [r["steps"] for r in h]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot(steps, [r["solve_rate"] for r in h])
    a.set_ylim(0, 1.05)
    a.set_xlabel("PPO steps")
    a.set_ylabel("solve rate (training episodes)")
    b.plot(steps, [r["mean_cost"] for r in h])
    b.set_xlabel("PPO steps")
    b.set_ylabel("mean episode cost")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
