"""``symphony quest``: play a level in the terminal, or print its exact plan.

The ``symphony`` command finds this sub-command through the
``symphony_lab.cli`` entry-point group (see ``envs/pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table

from function_quest.catalog import LEVELS, load
from function_quest.env import FunctionQuestEnv
from function_quest.generator import TIERS, generate
from function_quest.packs import PackError, load_pack
from symphony_lab.planning import Level, LevelError, expected_optimum, solve

app = typer.Typer(no_args_is_help=True, help="Function Quest levels: play or solve one.")
console = Console(highlight=False)


def resolve_level(spec: str) -> Level:
    """A shipped level's name, a ``.toml`` path, ``tier:seed`` (generated) or
    ``split-tier:index`` (a pack's level)."""
    if spec in LEVELS:
        return load(spec)
    try:
        if spec.endswith(".toml"):
            return Level.from_toml(Path(spec))
        name, _, number = spec.partition(":")
        if number.isdigit():
            if name in TIERS:
                return generate(int(number), name)
            if "-" not in name:
                raise click.ClickException(
                    f"unknown tier {name!r} in {spec!r}: expected one of {list(TIERS)} "
                    "(tier:seed), or split-tier:index (e.g. test-medium:0)"
                )
            split, _, tier = name.partition("-")
            pack = load_pack(split, tier)
            if int(number) >= len(pack):
                raise click.ClickException(f"pack {name} has {len(pack)} levels; no index {number}")
            return pack[int(number)]
    except (LevelError, PackError, OSError) as e:
        raise click.ClickException(str(e)) from None
    raise click.ClickException(
        f"unknown level {spec!r}: give a shipped level ({', '.join(LEVELS)}), a .toml "
        "file, tier:seed (e.g. hard:7) or split-tier:index (e.g. test-medium:0)"
    )


@app.command("solve")
def quest_solve(level: Annotated[str, typer.Argument(help="name, file, tier:seed")]) -> None:
    """Print the exact plan of a level and the best policy's expected cost."""
    lv = resolve_level(level)
    plan = solve(lv)
    if plan is None:
        raise click.ClickException(f"level {lv.id!r} cannot be won within its budget")
    table = Table(title=f"{lv.title or lv.id} — the exact plan")
    table.add_column("#", justify="right")
    table.add_column("call")
    table.add_column("cost", justify="right")
    for i, name in enumerate(plan.calls, 1):
        table.add_row(str(i), name, f"{lv.function(name).cost:g}")
    console.print(table)
    console.print(f"cost {plan.cost:g}, bonus {plan.bonus + 0.0:g} (every call succeeding)")
    best = expected_optimum(lv)
    if best is not None and best.method != "exact":
        console.print(f"expected cost when calls fail: {best.cost:.3f} ({best.method})")


@app.command("play")
def quest_play(
    level: Annotated[str, typer.Argument(help="name, file, tier:seed")] = "key_and_door",
    seed: Annotated[int, typer.Option(min=0, help="the episode's seed (>= 0)")] = 0,
) -> None:
    """Play a level: type a function's number each turn, q to give up."""
    lv = resolve_level(level)
    env = FunctionQuestEnv(lv, render_mode="ansi", max_steps=1000)
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
