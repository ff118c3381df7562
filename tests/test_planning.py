"""One state, two worlds: a Problem observed in a State gives, bit for bit,
the observation Function Quest gives in the same state, so a policy decides
a real run exactly as it decided in training, with no environment in between."""

from __future__ import annotations

import numpy as np
import pytest
from function_quest import resolve_levels
from function_quest.env import FunctionQuestEnv

from symphony_lab.conductor import Conductor, ConductorConfig, NetworkConfig
from symphony_lab.planning import (
    ObservationSpec,
    Observer,
    Planner,
    Policy,
    Problem,
    State,
    solve,
)

SMALL = ConductorConfig(network=NetworkConfig(width=24))


@pytest.mark.parametrize("pack", ["val-medium", "val-expert"])
def test_a_problem_in_a_state_is_observed_as_the_game_observes_it(pack: str) -> None:
    levels = resolve_levels(pack)[:12]
    env = FunctionQuestEnv(levels, cost_to_go=True, plan=True)
    conductor = Conductor(SMALL, seed=1)
    rng = np.random.default_rng(0)
    checked = 0
    for seed, level in enumerate(levels):
        obs, _ = env.reset(seed=seed, options={"level": level})
        observer = Observer(env.problem, env.spec_obs)
        for _ in range(12):
            state = env.state()
            ours = observer.observe(state)  # cost_to_go and the plan computed afresh
            assert ours.keys() == obs.keys()
            for key in obs:
                np.testing.assert_allclose(ours[key], obs[key], rtol=1e-6, err_msg=key)
            legal = env.problem.legal(state)
            mask = env.action_masks()
            assert [bool(legal >> f & 1) for f in range(len(env.problem))] == list(
                mask[: len(env.problem)]
            )
            if not mask.any():
                break
            # The Conductor decides the same through the Policy protocol.
            assert conductor.choose(env.problem, state) == conductor.decide(obs, mask)
            obs, _, done, cut, _ = env.step(int(rng.choice(np.flatnonzero(mask))))
            checked += 1
            if done or cut:
                break
    assert checked > 50


def test_policies_are_policies() -> None:
    assert isinstance(Planner(), Policy)
    assert isinstance(Conductor(SMALL), Policy)


def test_the_planner_takes_the_first_call_of_the_exact_plan() -> None:
    for level in resolve_levels("val-hard")[:10]:
        problem = Problem(level)
        plan = solve(level)
        assert plan is not None
        state = problem.start_state()
        assert Planner().choose(problem, state) == problem.index[plan.calls[0]]
        done = State(problem.start | problem.essential, 0, level.budget)
        assert Planner().choose(problem, done) is None, "nothing left to do"


def test_bits_and_names_round_trip_and_unknown_kinds_are_named() -> None:
    level = resolve_levels("key_and_door")[0]
    problem = Problem(level)
    kinds = set(list(level.kinds)[:3])
    assert problem.kinds_of(problem.bits(kinds)) == kinds
    with pytest.raises(KeyError, match="no kind 'unicorn'"):
        problem.bits(["unicorn"])
    spec = ObservationSpec(2, 2)
    with pytest.raises(ValueError, match="max_functions=2"):
        Observer(problem, spec)


def test_the_planners_advice_is_its_next_call_and_its_plan() -> None:
    expert = Planner(expected_costs=True)
    for level in resolve_levels("val-hard")[:8]:
        problem = Problem(level)
        spec = ObservationSpec.fitting([problem], plan=True)
        observer = Observer(problem, spec)
        state = problem.start_state()
        nxt, calls = observer.plan(state)
        assert nxt == 1 << expert.choose(problem, state)
        assert nxt & calls == nxt
        assert calls.bit_count() >= 1
        obs = observer.observe(state)
        assert obs["plan_next"].sum() == 1
        assert obs["plan_calls"].sum() == calls.bit_count()
        assert not observer.observe(state, plan=False)["plan_calls"].any()
        # Where the search gives up, there is no advice, and the rest still observes.
        stingy = Observer(problem, spec, plan_states=1)
        assert stingy.plan(state) == (0, 0)
        assert not stingy.observe(state)["plan_next"].any()
        rewards = {g.kind: g.reward for g in level.goals if g.importance != "essential"}
        for kind, r in rewards.items():
            assert obs["reward"][problem.kinds[kind]] == pytest.approx(r)
