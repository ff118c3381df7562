"""The exact solver: optimal against brute force on small random levels."""

import math
from dataclasses import replace
from importlib.resources import files

import function_quest as fq
import numpy as np
import pytest
from function_quest import Function, Goal, Level, LevelError, Plan
from function_quest.generator import generate
from hypothesis import given, settings
from hypothesis import strategies as st

KINDS = ["a", "b", "c", "d", "e"]


def replay(level: Level, plan: Plan) -> tuple[float, frozenset[str]]:
    """Checks the plan call by call; returns its cost and what is held at the end."""
    held = set(level.initial)
    warm: set[str] = set()
    cost = 0.0
    for name in plan.calls:
        f = level.function(name)
        assert f.needs <= held, (name, held)
        held = (held - set(f.consumes)) | set(f.produces)
        cost += f.cost + (0.0 if name in warm else f.warmup)
        warm.add(name)
    return cost, frozenset(held)


@st.composite
def small_levels(draw: st.DrawFn) -> Level:
    n_kinds = draw(st.integers(3, 5))
    kinds = KINDS[:n_kinds]
    functions = []
    for i in range(draw(st.integers(2, 4))):
        needs = draw(st.lists(st.sampled_from(kinds), max_size=2, unique=True))
        consumes = [k for k in needs if draw(st.booleans())]
        reads = [k for k in needs if k not in consumes]
        produces = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=2, unique=True))
        functions.append(
            Function(
                name=f"f{i}",
                reads=tuple(reads),
                consumes=tuple(consumes),
                produces=tuple(produces),
                cost=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5])),
                warmup=draw(st.sampled_from([0.0, 0.0, 1.0, 2.5])),
            )
        )
    initial = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=2, unique=True))
    goal_kinds = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3, unique=True))
    goals = [Goal(goal_kinds[0], "essential", 5.0)]
    goals += [
        Goal(
            k, draw(st.sampled_from(["recommended", "optional"])), draw(st.sampled_from([0.5, 3.0]))
        )
        for k in goal_kinds[1:]
    ]
    try:
        return Level(
            id="random",
            title="random",
            story="",
            kinds={k: k for k in kinds},
            initial=tuple(initial),
            goals=tuple(goals),
            functions=tuple(functions),
            budget=draw(st.sampled_from([4.0, 8.0, 100.0])),
        )
    except LevelError:
        # Unreachable in the relaxed sense: such levels are refused at load.
        return fq.load("key_and_door")


@settings(max_examples=300, deadline=None)
@given(small_levels())
def test_the_solver_is_optimal_against_brute_force(level: Level) -> None:
    depth = 7
    plan = fq.solve(level)
    oracle = fq.brute_force(level, max_calls=depth)
    if plan is None:
        assert oracle is None
        return
    cost, held = replay(level, plan)
    assert math.isclose(cost, plan.cost)
    assert cost <= level.budget + 1e-9
    assert level.essential <= held
    if oracle is not None:
        # Brute force sees plans up to `depth` calls; nothing it finds is better.
        assert plan.objective <= oracle.objective + 1e-9
        if len(plan.calls) <= depth:
            assert math.isclose(plan.objective, oracle.objective, abs_tol=1e-9)


def test_shipped_levels_have_the_plans_a_person_would_find() -> None:
    door = fq.solve(fq.load("key_and_door"))
    assert door is not None
    assert door.calls == ("find_key", "use_key", "open_door")
    assert door.cost == 3.0
    delivery = fq.solve(fq.load("software_delivery"))
    assert delivery is not None
    assert delivery.calls[-1] == "generate_code_local"  # the episode ends with the code
    assert "write_tests" in delivery.calls  # tests are worth their cost
    assert "write_docs" not in delivery.calls  # docs are not
    assert delivery.objective == 12.0


def test_budget_and_consumption_can_make_a_level_unsolvable() -> None:
    door = fq.load("key_and_door")
    assert fq.solve(door, budget=2.5) is None
    # The map is used up finding the one key, and the lock keeps the key; a
    # door that also wants the key in hand can never open. The relaxation
    # (which ignores consumption) accepts the level; the exact search does not.
    source = files("function_quest").joinpath("levels", "key_and_door.toml").read_text()
    level = Level.from_toml(
        source.replace('reads = ["map"]', 'consumes = ["map"]').replace(
            'reads = ["unlocked_door"]', 'reads = ["unlocked_door", "key"]'
        )
    )
    assert fq.solve(level) is None
    assert fq.brute_force(level, max_calls=8) is None


def test_the_expected_optimum_matches_simulation() -> None:
    # A level where the cheap way fails often: retrying it is still best.
    level = Level.from_toml(
        """
        id = "flaky"
        budget = 1000.0
        initial = ["a"]
        [kinds]
        a = "start"
        b = "middle"
        c = "goal"
        [[goals]]
        kind = "c"
        [[functions]]
        name = "cheap"
        reads = ["a"]
        produces = ["b"]
        cost = 1.0
        warmup = 0.5
        failure = 0.5
        [[functions]]
        name = "sure"
        reads = ["a"]
        produces = ["b"]
        cost = 3.5
        [[functions]]
        name = "finish"
        reads = ["b"]
        produces = ["c"]
        cost = 1.0
        failure = 0.2
        """
    )
    plan = fq.expected_optimum(level)
    assert plan is not None
    assert plan.method == "value_iteration"  # cheap both warms up and fails
    assert plan.calls == ("cheap", "finish")
    # Every attempt of cheap starts cold (a failure cools it): (1 + 0.5) / 0.5 = 3,
    # below sure's 3.5; finish then costs 1 / 0.8 in expectation.
    assert math.isclose(plan.cost, 1.5 / 0.5 + 1.0 / 0.8)
    # Monte Carlo: follow the plan, retrying each call until it succeeds.
    rng = np.random.default_rng(0)
    totals = []
    for _ in range(20_000):
        total = 0.0
        for name in plan.calls:
            f = level.function(name)
            warm = False
            while True:
                total += f.cost + (0.0 if warm else f.warmup)
                if rng.random() >= f.failure:
                    break
                warm = False  # a failed instance goes cold
        totals.append(total)
    assert abs(float(np.mean(totals)) - plan.cost) < 0.05
    assert fq.expected_optimum(fq.load("key_and_door")) == fq.solve(fq.load("key_and_door"))


SWITCH = """
id = "switch"
budget = 1000.0
initial = ["s"]
[kinds]
s = "start"
x = "draft"
y = "reviewed"
z = "final"
[[goals]]
kind = "z"
[[functions]]
name = "model"
reads = ["s"]
produces = ["x"]
cost = 1.0
warmup = 10.0
failure = 0.5
[[functions]]
name = "review"
consumes = ["x"]
produces = ["y"]
cost = 1.0
[[functions]]
name = "rewrite"
reads = ["y"]
produces = ["x"]
cost = 15.0
[[functions]]
name = "publish"
reads = ["x", "y"]
produces = ["z"]
cost = 1.0
"""


def test_value_iteration_finds_the_switch_after_a_failure_cools_a_model() -> None:
    level = Level.from_toml(SWITCH)
    plan = fq.expected_optimum(level)
    assert plan is not None
    assert plan.method == "value_iteration"
    assert plan.calls == ("model", "review", "model", "publish")
    # First draft: only the model, cold every try: 11 / 0.5 = 22. Second:
    # the model is warm, try it once (1); after a failure it is cold, and
    # the rewrite (15) beats the model cold again (22): 1 + 0.5 * 15 = 8.5.
    assert math.isclose(plan.cost, 22 + 1 + 8.5 + 1)
    # Retrying the model would cost 1 + 0.5 * 22 = 12 in expectation: the
    # replanner, which plans as if nothing fails, does that; sampled, named.
    with pytest.warns(UserWarning, match="more than 3 states are reachable"):
        sampled = fq.expected_optimum(level, max_states=3)
    assert sampled is not None
    assert sampled.method == "replanning"
    assert abs(sampled.cost - (22 + 1 + 12 + 1)) < 2.5
    assert sampled.cost > plan.cost


def test_each_kind_of_level_names_its_method() -> None:
    door = fq.load("key_and_door")
    assert fq.expected_optimum(door) == fq.solve(door)
    assert fq.expected_optimum(door).method == "exact"
    hard = generate(0, "hard")
    assert fq.expected_optimum(hard).method == "retry"
    # generate_code both warms up and fails.
    delivery = fq.expected_optimum(fq.load("software_delivery"))
    assert delivery is not None
    assert delivery.method == "value_iteration"
    assert delivery.cost > fq.solve(fq.load("software_delivery")).cost


def test_retry_and_value_iteration_agree_where_both_are_exact() -> None:
    for seed in range(10):
        level = generate(seed, "hard")
        retry = fq.expected_optimum(level)
        assert retry.method == "retry"
        # A warm-up of 1e-9 on every failing function forces value iteration.
        tiny = replace(
            level,
            functions=tuple(
                replace(f, warmup=f.warmup + 1e-9) if f.failure else f for f in level.functions
            ),
        )
        vi = fq.expected_optimum(tiny)
        assert vi.method == "value_iteration"
        assert math.isclose(vi.cost - vi.bonus, retry.cost - retry.bonus, rel_tol=1e-6)
