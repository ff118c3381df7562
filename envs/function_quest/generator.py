"""Level generator: ``generate(seed, difficulty)``.

Backward chaining from the goal. First a hidden solution DAG is sampled: the
goal kind is made by a function whose inputs are new kinds, each made by
another function, down to ``depth`` levels, where the inputs are initial
kinds; calling the DAG's functions bottom-up wins, so every level is solvable by
construction; that hidden plan is kept in ``level.meta`` and its cost, times
the tier's slack, sets the budget. Then what makes a level hard is added around it:

- *fallbacks* for solution functions: the same outputs on other terms
  (cheaper but unreliable, or reliable but dear);
- *warm-up traps*: a unit needed three times (each use consumes it) comes
  from a function cheap per call but slow to warm, or from one with no
  warm-up but dearer per call; warming once pays, which a comparison of the
  next call's price alone never sees;
- *consumption traps*: a cheap shortcut that consumes an input the plan
  needs later, which a delete relaxation cannot see;
- *distractors* and *dead ends*: functions from held kinds to kinds no goal
  needs, some in chains;
- *reverse* functions that rebuild an earlier kind from a later one;
- a recommended goal beside the plan, and an optional one that is not worth
  its cost.

Each tier is a documented set of knobs (``TIERS``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from symphony_lab.planning import Function, Goal, Level


@dataclass(frozen=True)
class Knobs:
    depth: int
    width: tuple[int, int]
    distractors: int
    dead_end_length: int
    fallbacks: int
    failure: float
    reverse: int
    warmup_traps: int
    consumption_traps: int
    budget_slack: float
    extra_goals: bool


#: depth, width (inputs per step), distractors, dead-end length, fallbacks,
#: failure (max probability on a solution step), reverse functions, warm-up
#: traps, consumption traps, budget slack (x the hidden plan's cost), extra goals.
#: Sized to fit the default observation (32 functions, 32 kinds).
TIERS: dict[str, Knobs] = {
    "tutorial": Knobs(2, (1, 1), 1, 1, 0, 0.0, 0, 0, 0, 3.0, False),
    "easy": Knobs(3, (1, 2), 2, 1, 1, 0.0, 0, 0, 0, 2.0, False),
    "medium": Knobs(3, (1, 2), 2, 2, 2, 0.0, 1, 1, 1, 1.6, True),
    "hard": Knobs(3, (1, 2), 2, 2, 2, 0.15, 1, 1, 2, 1.4, True),
    "expert": Knobs(4, (1, 2), 1, 2, 2, 0.25, 1, 1, 2, 1.25, True),
}


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.kinds: dict[str, str] = {}
        self.functions: list[Function] = []

    def kind(self, prefix: str) -> str:
        name = f"{prefix}{len(self.kinds)}"
        self.kinds[name] = f"artifact {name}"
        return name

    def add(self, **kw: Any) -> Function:
        name = f"{kw.pop('verb', 'make')}_{len(self.functions)}"
        f = Function(name=name, returns=f"{name} done", **kw)
        self.functions.append(f)
        return f


def generate(seed: int, difficulty: str = "medium", *, knobs: Knobs | None = None) -> Level:
    """A solvable level of the tier, the same one for the same seed. With
    ``knobs``, a level of those knobs instead, marked ``difficulty="custom"``
    (for levels unlike any tier, such as larger ones)."""
    if knobs is not None:
        difficulty = "custom"
    elif difficulty not in TIERS:
        raise ValueError(f"unknown difficulty {difficulty!r}; expected one of {list(TIERS)}")
    else:
        knobs = TIERS[difficulty]
    rng = random.Random(f"{seed}:{difficulty}")
    b = _Builder(rng)
    goal = b.kind("goal")
    initial = [b.kind("given") for _ in range(rng.randint(1, 2))]
    solution: list[Function] = []
    made_at: dict[str, int] = {}

    def make(kind: str, level: int) -> None:
        if level >= knobs.depth:
            inputs = [rng.choice(initial)]
        else:
            inputs = [b.kind("part") for _ in range(rng.randint(*knobs.width))]
        f = b.add(
            verb="make",
            reads=tuple(dict.fromkeys(inputs)),
            produces=(kind,),
            cost=rng.choice([1.0, 2.0, 3.0]),
        )
        solution.append(f)
        made_at[kind] = level
        for k in inputs:
            if k not in initial:
                make(k, level + 1)

    make(goal, 1)
    inner = [f for f in solution if f.produces[0] != goal]

    # Warm-up traps: a unit needed three times, each use consuming it, made
    # by a function that is cheap per call but slow to warm, or by one with
    # no warm-up that costs more per call. Warming once pays; a step-by-step
    # comparison of the next call's price never warms it.
    traps: list[str] = []
    for _ in range(knobs.warmup_traps):
        if not inner:
            break
        source = rng.choice(inner).produces[0]
        unit = b.kind("unit")
        warm = b.add(verb="forge", reads=(source,), produces=(unit,), cost=1.0, warmup=4.0)
        b.add(verb="carve", reads=(source,), produces=(unit,), cost=4.0)
        pieces = [b.kind("piece") for _ in range(3)]
        folds = [b.add(verb="fold", consumes=(unit,), produces=(p,), cost=0.5) for p in pieces]
        bundle = b.kind("bundle")
        assemble = b.add(verb="assemble", reads=tuple(pieces), produces=(bundle,), cost=1.0)
        at = next(i for i, f in enumerate(b.functions) if f.produces == (goal,))
        g = b.functions[at]
        b.functions[at] = Function(**{**g.__dict__, "reads": (*g.reads, bundle)})
        solution[solution.index(g)] = b.functions[at]
        for fold in folds:
            traps += [warm.name, fold.name]
        traps.append(assemble.name)

    # Fallbacks for solution functions.
    for f in rng.sample(solution, min(knobs.fallbacks, len(solution))):
        cheap_unreliable = rng.random() < 0.5
        b.add(
            verb="alt",
            reads=f.reads,
            produces=f.produces,
            cost=f.cost * (0.5 if cheap_unreliable else 1.8),
            failure=min(0.6, knobs.failure * 3) if cheap_unreliable else 0.0,
            fallback_for=f.name,
        )
    # Failures on the solution itself.
    if knobs.failure:
        for i, f in enumerate(b.functions):
            if f in solution and rng.random() < 0.5:
                b.functions[i] = Function(
                    **{**f.__dict__, "failure": round(rng.uniform(0, knobs.failure), 2)}
                )

    # Consumption traps: a cheap shortcut to a needed kind that uses up an input.
    for _ in range(knobs.consumption_traps):
        if not inner:
            break
        f = rng.choice(inner)
        kept = f.reads[0]
        b.add(verb="shortcut", consumes=(kept,), produces=f.produces, cost=max(0.5, f.cost - 1.0))

    # Distractors and dead ends.
    known = list(initial) + [f.produces[0] for f in inner]
    for _ in range(knobs.distractors):
        src = rng.choice(known)
        for _ in range(knobs.dead_end_length):
            dst = b.kind("junk")
            b.add(verb="explore", reads=(src,), produces=(dst,), cost=rng.choice([0.5, 1.0, 1.5]))
            src = dst

    # Reverse functions: rebuild an earlier kind from a later one.
    for _ in range(knobs.reverse):
        if len(inner) < 2:
            break
        later, earlier = sorted(rng.sample(inner, 2), key=lambda f: made_at[f.produces[0]])
        b.add(
            verb="reverse", reads=later.produces, produces=earlier.produces, cost=1.0, reverse=True
        )

    goals = [Goal(goal, "essential", 10.0)]
    if knobs.extra_goals and inner:
        src = rng.choice(inner).produces[0]
        worth = b.kind("report")
        b.add(verb="report", reads=(src,), produces=(worth,), cost=1.0)
        fluff = b.kind("polish")
        b.add(verb="polish", reads=(src,), produces=(fluff,), cost=3.0)
        goals += [Goal(worth, "recommended", 2.0), Goal(fluff, "optional", 1.0)]

    # The hidden plan: the solution DAG bottom-up, the traps' warm path
    # before the goal's own call. Its cost sets the budget (no search needed).
    order = [f.name for f in reversed(solution)]
    plan = [*order[:-1], *traps, order[-1]]
    by_name = {f.name: f for f in b.functions}
    warmed: set[str] = set()
    hidden_cost = 0.0
    for name in plan:
        f = by_name[name]
        hidden_cost += f.cost + (0.0 if name in warmed else f.warmup)
        warmed.add(name)
    return Level(
        id=f"{difficulty}-{seed}",
        title=f"{difficulty.title()} level {seed}",
        story=f"A generated {difficulty} level: make {goal} from {', '.join(initial)}.",
        kinds=b.kinds,
        initial=tuple(initial),
        goals=tuple(goals),
        functions=tuple(b.functions),
        budget=round(hidden_cost * knobs.budget_slack + 2.0, 2),
        difficulty=difficulty,
        seed=seed,
        meta={"hidden_plan": plan, "hidden_cost": hidden_cost},
    )
