"""``symphony``: train, evaluate and play from the terminal.

    symphony run                      the main job: train, evaluate, report
    symphony train --tier medium      train a Conductor and save it
    symphony eval runs/x/conductor.pt evaluate a saved Conductor
    symphony quest play key_and_door  play a level yourself
    symphony quest solve hard:7       the exact plan of a level
    symphony ext new NAME --kind operator   scaffold an extension with its test
    symphony ext check PATH           validate a symphony.toml
    symphony ext list                 the extensions shipped with the package
    symphony ext schema               the JSON Schema of symphony.toml, for editors

Errors print one line and exit with status 1.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from function_quest.level import Level

    from symphony_lab.conductor import Conductor, Evaluation

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train, evaluate and play: the symphony-lab command line.",
)
quest = typer.Typer(no_args_is_help=True, help="Function Quest levels: play or solve one.")
app.add_typer(quest, name="quest")
ext = typer.Typer(no_args_is_help=True, help="Stage extensions: scaffold, check, list.")
app.add_typer(ext, name="ext")
console = Console(highlight=False)


class _Fail(Exception):
    """An error to print as one line."""


def main() -> None:
    """Entry point: runs the app and turns known errors into one line."""
    from function_quest.errors import LevelError
    from function_quest.packs import PackError

    from symphony_lab.errors import ConductorError, ManifestError

    # Errors of the user's making; anything else is a bug and keeps its traceback.
    known = (_Fail, ConductorError, LevelError, PackError, OSError, ManifestError)
    try:
        # Without standalone mode click returns an Exit's status instead.
        status = app(standalone_mode=False)
        if isinstance(status, int) and status:
            sys.exit(status)
    except known as e:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[red]error:[/] {escape(str(e))}")
        sys.exit(1)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        Console(stderr=True).print("aborted")
        sys.exit(130)
    except Exception as e:  # click's usage errors carry their own exit code
        code = getattr(e, "exit_code", None)
        if code is None:
            raise
        if hasattr(e, "show"):
            e.show()
        sys.exit(code)


# ---- levels ----


def resolve_level(spec: str) -> Level:
    """A shipped level's name, a ``.toml`` path, ``tier:seed`` (generated) or
    ``split-tier:index`` (a pack's level)."""
    import function_quest as fq
    from function_quest.generator import TIERS, generate
    from function_quest.level import Level
    from function_quest.packs import load_pack

    if spec in fq.LEVELS:
        return fq.load(spec)
    if spec.endswith(".toml"):
        return Level.from_toml(Path(spec))
    name, _, number = spec.partition(":")
    if number.isdigit():
        if name in TIERS:
            return generate(int(number), name)
        split, _, tier = name.partition("-")
        pack = load_pack(split, tier)
        if int(number) >= len(pack):
            raise _Fail(f"pack {name} has {len(pack)} levels; no index {number}")
        return pack[int(number)]
    raise _Fail(
        f"unknown level {spec!r}: give a shipped level ({', '.join(fq.LEVELS)}), a .toml "
        "file, tier:seed (e.g. hard:7) or split-tier:index (e.g. test-medium:0)"
    )


@quest.command("solve")
def quest_solve(level: Annotated[str, typer.Argument(help="name, file, tier:seed")]) -> None:
    """Print the exact plan of a level and the best policy's expected cost."""
    import function_quest as fq

    lv = resolve_level(level)
    plan = fq.solve(lv)
    if plan is None:
        raise _Fail(f"level {lv.id!r} cannot be won within its budget")
    table = Table(title=f"{lv.title or lv.id} — the exact plan")
    table.add_column("#", justify="right")
    table.add_column("call")
    table.add_column("cost", justify="right")
    for i, name in enumerate(plan.calls, 1):
        table.add_row(str(i), name, f"{lv.function(name).cost:g}")
    console.print(table)
    console.print(f"cost {plan.cost:g}, bonus {plan.bonus + 0.0:g} (every call succeeding)")
    best = fq.expected_optimum(lv)
    if best is not None and best.method != "exact":
        console.print(f"expected cost when calls fail: {best.cost:.3f} ({best.method})")


@quest.command("play")
def quest_play(
    level: Annotated[str, typer.Argument(help="name, file, tier:seed")] = "key_and_door",
    seed: int = 0,
) -> None:
    """Play a level: type a function's number each turn, q to give up."""
    from function_quest.env import FunctionQuestEnv

    lv = resolve_level(level)
    env = FunctionQuestEnv(
        lv,
        render_mode="ansi",
        max_functions=max(32, len(lv.functions)),
        max_kinds=max(32, len(lv.kinds)),
        max_steps=1000,
    )
    env.reset(seed=seed)
    if lv.story:
        console.print(lv.story.strip(), style="italic")
    terminated = truncated = False
    while not (terminated or truncated):
        console.print(env.render(), markup=False)
        answer = typer.prompt("call (q to give up)").strip()
        if answer.lower() in ("q", "quit"):
            console.print("given up.")
            raise typer.Exit(1)
        if not answer.isdigit() or int(answer) >= len(lv.functions):
            console.print(f"[yellow]type a number from 0 to {len(lv.functions) - 1}[/]")
            continue
        failures = env.failures
        _, _, terminated, truncated, info = env.step(int(answer))
        f = lv.functions[int(answer)]
        if info["illegal"]:
            console.print("[yellow]that call is not possible now (needs, or budget)[/]")
        elif env.failures > failures:
            console.print(f"-> {f.name} [red]failed[/]: paid, nothing made")
        else:
            console.print(f"-> {f.returns or f.name}")
    verdict = "[green]won[/]" if terminated else "[red]stuck[/]"
    line = f"{verdict}: {len(env.calls)} calls, cost {env.spent:g}"
    best = env.optimal_cost()
    if best is not None:
        line += f"; the best policy's expected cost is {best:g}"
    console.print(line)


# ---- the Conductor ----


@ext.command("new")
def ext_new(
    name: Annotated[str, typer.Argument(help="lower-case name, e.g. my-tool")],
    kind: Annotated[str, typer.Option(help="operator (code) or instrument (a model)")] = "operator",
    dir: Annotated[Path, typer.Option(help="the folder that will hold it")] = Path("."),
) -> None:
    """Write NAME/ with symphony.toml, the module and a test that runs it on a Stage."""
    from symphony_lab.stage.scaffold import new_extension

    if kind not in ("operator", "instrument"):
        raise _Fail(f"--kind must be operator or instrument, got {kind!r}")
    try:
        folder = new_extension(name, kind, dir)  # type: ignore[arg-type]
    except ValueError as e:
        raise _Fail(str(e)) from None
    console.print(f"created {folder}/ ({kind}); run its test with: pytest {folder}")


@ext.command("check")
def ext_check(path: Annotated[Path, typer.Argument(help="a symphony.toml or its folder")]) -> None:
    """Validate a manifest; errors name the field and what was expected."""
    from symphony_lab.stage import load_manifest

    m = load_manifest(path)
    fns = ", ".join(f.name for f in m.functions) or "none listed"
    console.print(f"{m.name} {m.version} ({m.kind}): valid; functions: {fns}")


@ext.command("list")
def ext_list() -> None:
    """The extensions shipped with the package, and their functions."""
    from symphony_lab.stage import builtin_manifests, load_manifest

    table = Table("extension", "kind", "functions", "network")
    for folder in builtin_manifests():
        m = load_manifest(folder)
        net = "allowed" if m.permissions.allows("network", "read") else "denied"
        table.add_row(m.name, m.kind, ", ".join(f.name for f in m.functions), net)
    console.print(table)


@ext.command("schema")
def ext_schema(
    output: Annotated[Path | None, typer.Option(help="write it here instead of stdout")] = None,
) -> None:
    """The JSON Schema of symphony.toml (for taplo or VS Code's Even Better TOML)."""
    import json

    from symphony_lab.stage import manifest_schema

    text = json.dumps(manifest_schema(), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n")
        console.print(f"wrote {output}")


@app.command("train")
def train(
    tier: Annotated[
        str, typer.Option(help="tier or split-tier of the pack to train on")
    ] = "medium",
    steps: Annotated[int, typer.Option(min=1, help="PPO environment steps")] = 30_000,
    envs: Annotated[int, typer.Option(min=1, help="environments stepped together")] = 8,
    seed: int = 0,
    pretrain: Annotated[bool, typer.Option(help="imitate the exact solver first")] = True,
    pretrain_episodes: Annotated[
        int, typer.Option(min=1, help="solver episodes to imitate")
    ] = 2000,
    out: Annotated[Path, typer.Option(help="where the checkpoint goes")] = Path("conductor.pt"),
    resume: Annotated[Path | None, typer.Option(help="a checkpoint to continue")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(min=1, help="save every N steps")] = None,
    tensorboard: Annotated[Path | None, typer.Option(help="TensorBoard log folder")] = None,
) -> None:
    """Train a Conductor on a pack of levels and save it."""
    from symphony_lab.conductor import Conductor

    conductor = Conductor.load(resume) if resume else Conductor(seed=seed)
    start = time.perf_counter()
    conductor.train(
        tier,
        total_steps=steps,
        n_envs=envs,
        seed=seed,
        pretrain="solver" if pretrain and resume is None else None,
        pretrain_episodes=pretrain_episodes,
        progress_bar=True,
        checkpoint_every=checkpoint_every,
        checkpoint_dir=out.parent / "checkpoints",
        tensorboard_log=tensorboard,
    )
    conductor.save(out)
    console.print(
        f"trained {conductor.num_timesteps:,} steps in {time.perf_counter() - start:.0f} s"
    )
    console.print(f"saved {out}")


@app.command("eval")
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="a saved Conductor")],
    pack: Annotated[str, typer.Option(help="split-tier of the levels")] = "test-medium",
    episodes: Annotated[int | None, typer.Option(min=1, help="at most this many levels")] = None,
    baselines: bool = True,
    plot: Annotated[Path | None, typer.Option(help="save the figure here")] = None,
    csv: Annotated[Path | None, typer.Option(help="save one row per episode here")] = None,
) -> None:
    """Evaluate a saved Conductor beside the baselines."""
    from symphony_lab.conductor import Conductor

    for target in (csv, plot):
        if target is not None and not target.parent.is_dir():
            raise _Fail(f"cannot write {target}: folder {target.parent} does not exist")
    conductor = Conductor.load(checkpoint)
    ev = conductor.evaluate(pack, episodes=episodes, baselines=baselines)
    print_summary(ev, pack)
    if csv:
        ev.frame.to_csv(csv, index=False)
    if plot:
        ev.plot(plot)


def print_summary(ev: Evaluation, title: str) -> None:
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
    console.print(table)


def _num(x: Any) -> str:
    return "-" if x != x else f"{x:.3f}"


# ---- the main job ----


@app.command("run")
def run(
    out: Annotated[Path, typer.Option(help="runs/<timestamp>/ is made here")] = Path("runs"),
    steps: Annotated[int, typer.Option(min=1, help="PPO steps after imitation")] = 30_000,
    envs: Annotated[int, typer.Option(min=1)] = 8,
    seed: int = 0,
    packs: Annotated[str, typer.Option(help="held-out packs, comma-separated")] = (
        "test-medium,test-hard,test-expert"
    ),
) -> None:
    """Train a Conductor on the medium pack, evaluate it on held-out packs
    beside every baseline, and write the table, plots and checkpoint."""
    from symphony_lab.conductor import Conductor

    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = out / stamp
    for n in range(2, 100):  # two runs in one second get folders of their own
        if not folder.exists():
            break
        folder = out / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    console.rule("symphony: train a Conductor on the medium pack")
    start = time.perf_counter()
    conductor = Conductor(seed=seed)
    conductor.train(
        "medium", total_steps=steps, n_envs=envs, seed=seed, pretrain="solver", progress_bar=True
    )
    trained = time.perf_counter() - start
    path = conductor.save(folder / "conductor.pt")
    console.print(f"trained in {trained:.0f} s ({conductor.num_timesteps:,} PPO steps): {path}")
    plot_history(conductor, folder / "training.png")
    for pack in packs.split(","):
        console.rule(f"evaluate on {pack}")
        ev = conductor.evaluate(pack, seed=seed)
        print_summary(ev, pack)
        ev.frame.to_csv(folder / f"{pack}.csv", index=False)
        ev.plot(folder / f"{pack}.png")
    console.print(f"wrote {folder}/: conductor.pt, training.png, <pack>.csv and <pack>.png")


def plot_history(conductor: Conductor, path: Path) -> None:
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
