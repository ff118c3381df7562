"""Levels of the live tier: pipelines whose stages run on shared services.

A level is a few independent branches of stages that a final step joins;
each stage's kind can be made by two or three functions, each running on
one of three services (``svc_a``, ``svc_b``, ``svc_c``: kinds held from the
start that the function reads), with its own cost, latency and *stated*
failure rate. Branches can run side by side up to the level's pool
``capacity``; every unit of wall-clock time costs ``time_cost``
(``level.meta``), so the cost of an episode is what the calls cost plus
``time_cost`` times the makespan.

What the level does not say is how each service behaves in an episode:
that is the world's (``live.World``), and only outcomes reveal it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from symphony_lab.planning import Function, Goal, Level

#: The services a live level's functions run on (kinds held from the start),
#: and the price band of the functions each one offers.
SERVICES = ("svc_a", "svc_b", "svc_c")
PRICES = {"svc_a": (1.0, 3.0), "svc_b": (2.0, 5.0), "svc_c": (3.5, 7.0)}

#: Seeds of the committed sweeps: training levels and held-out test levels
#: never share a seed.
TRAIN_SEEDS = range(0, 400)
TEST_SEEDS = range(10_000, 10_060)


def live_level(seed: int) -> Level:
    """One live level, the same for the same seed."""
    rng = random.Random(seed)
    kinds: dict[str, str] = {"input": "the request", "result": "the finished work"}
    kinds |= {s: f"service {s[-1].upper()} (a shared backend)" for s in SERVICES}
    functions: list[Function] = []
    ends: list[str] = []
    for b in range(rng.randint(2, 3)):
        before = "input"
        for s in range(rng.randint(1, 3)):
            kind = f"b{b}s{s}"
            kinds[kind] = f"stage {s + 1} of branch {b + 1}"
            for service in rng.sample(SERVICES, rng.randint(2, 3)):
                functions.append(_stage(rng, f"{kind}_{service[-1]}", before, kind, service))
            before = kind
        ends.append(before)
    for service in rng.sample(SERVICES, 2):
        join = _stage(rng, f"join_{service[-1]}", ends[0], "result", service)
        functions.append(dataclasses.replace(join, reads=(*ends, service)))
    return Level(
        id=f"live-{seed}",
        title=f"Live pipeline {seed}",
        story="Branches of stages on shared services, joined at the end; "
        "the services' reliability today is for the outcomes to tell.",
        kinds=kinds,
        initial=("input", *SERVICES),
        goals=(Goal("result"),),
        functions=tuple(functions),
        budget=1000.0,
        difficulty="custom",
        seed=seed,
        meta={"tier": "live", "capacity": rng.randint(2, 3), "time_cost": rng.uniform(0.5, 2.0)},
    )


def _stage(rng: random.Random, name: str, reads: str, makes: str, service: str) -> Function:
    return Function(
        name=name,
        returns=f"{makes} from {reads}",
        reads=(reads, service),
        produces=(makes,),
        cost=round(rng.uniform(*PRICES[service]), 1),
        latency=round(rng.uniform(1.0, 5.0), 1),
        failure=rng.choice((0.02, 0.05, 0.1, 0.15)),
    )


def live_levels(which: str = "train") -> list[Level]:
    """The training sweep (``"train"``) or the held-out one (``"test"``)."""
    if which not in ("train", "test"):
        raise ValueError(f"live levels are 'train' or 'test', not {which!r}")
    return [live_level(s) for s in (TRAIN_SEEDS if which == "train" else TEST_SEEDS)]


def timed_level(level: Level) -> Level:
    """``level`` with each call's time price (``time_cost`` x latency) added
    to its cost: what a planner that runs one call at a time pays."""
    time_cost = float(level.meta.get("time_cost", 0.0))
    functions = tuple(
        dataclasses.replace(f, cost=f.cost + time_cost * f.latency) for f in level.functions
    )
    return dataclasses.replace(level, functions=functions)


@dataclass(frozen=True)
class World:
    """How services behave, drawn afresh each episode."""

    #: Per service, the chance that it is down in an episode.
    outage: Mapping[str, float] = field(
        default_factory=lambda: {"svc_a": 0.5, "svc_b": 0.25, "svc_c": 0.1}
    )
    outage_failure: float = 0.8

    def __post_init__(self) -> None:
        for name, value in [*self.outage.items(), ("outage_failure", self.outage_failure)]:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"World: {name} must be in [0, 1], got {value}")

    def draw(self, level: Level, rng: np.random.Generator) -> tuple[frozenset[str], list[float]]:
        """The degraded services and each function's true failure rate."""
        draws = {s: rng.random() for s in SERVICES}  # all drawn, so worlds align across levels
        down = frozenset(
            s for s in SERVICES if s in level.kinds and draws[s] < self.outage.get(s, 0.0)
        )
        failure = [
            max(f.failure, self.outage_failure) if down & set(f.reads) else f.failure
            for f in level.functions
        ]
        return down, failure
