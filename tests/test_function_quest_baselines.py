"""Baselines, scoring and the curriculum."""

import math

import function_quest as fq
import pytest
from function_quest.baselines import (
    ExactReplanningPolicy,
    GreedyPolicy,
    RandomPolicy,
    RelaxedPlanPolicy,
    h_add,
    needed_kinds,
    run_episode,
)
from function_quest.env import FunctionQuestEnv
from function_quest.scoring import Curriculum, Score, score


def mean_ratio(policy: object, level: str, episodes: int = 20) -> tuple[float, float]:
    env = FunctionQuestEnv(fq.load(level))
    scores = [run_episode(env, policy, seed=s) for s in range(episodes)]  # type: ignore[arg-type]
    solved = [s for s in scores if s.solved]
    return len(solved) / episodes, sum(s.cost_ratio for s in solved) / max(len(solved), 1)


def test_the_exact_planner_is_optimal_on_a_deterministic_level() -> None:
    assert mean_ratio(ExactReplanningPolicy(), "key_and_door") == (1.0, 1.0)
    assert mean_ratio(RelaxedPlanPolicy(), "key_and_door") == (1.0, 1.0)


def test_baselines_rank_as_expected_on_software_delivery() -> None:
    solved, exact = mean_ratio(ExactReplanningPolicy(), "software_delivery")
    assert solved == 1.0
    _, greedy = mean_ratio(GreedyPolicy(), "software_delivery")
    _, random = mean_ratio(RandomPolicy(seed=0), "software_delivery")
    assert exact < greedy < random


def test_relaxation_helpers() -> None:
    door = fq.load("key_and_door")
    assert needed_kinds(door) == {"open_door", "unlocked_door", "key", "map"}
    assert h_add(door, {"map"}) == 3.0
    assert h_add(door, {"unlocked_door"}) == 1.0
    assert math.isinf(h_add(door, {"noise"}))


def test_score() -> None:
    assert score(solved=True, calls=4, cost=6.0, optimal_calls=3, optimal_cost=3.0) == Score(
        True, 0.75, 2.0
    )
    # Skipping a goal worth 2 to save 1 is no saving.
    assert score(
        solved=True, calls=3, cost=5.0, optimal_calls=4, optimal_cost=6.0, forgone=2.0
    ).cost_ratio == pytest.approx(7.0 / 6.0)
    assert score(solved=False, calls=9, cost=9.0, optimal_calls=3, optimal_cost=3.0) == Score(
        False, 0.0, math.inf
    )


def test_the_curriculum_promotes_after_a_good_window() -> None:
    c = Curriculum(window=10)
    good, bad = Score(True, 1.0, 1.0), Score(False, 0.0, math.inf)
    for _ in range(9):
        assert not c.record(good)
    c.record(bad)  # 9/10 solved < 0.95
    assert c.tier == "tutorial"
    promoted = [c.record(good) for _ in range(10)]
    assert promoted == [False] * 9 + [True]
    assert c.tier == "easy"
    slow = Score(True, 0.5, 2.0)  # solved, but inefficient
    assert not any(c.record(slow) for _ in range(20))
    assert c.tier == "easy"
    with pytest.raises(ValueError, match="window"):
        Curriculum(window=0)
