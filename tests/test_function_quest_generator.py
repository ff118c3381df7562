"""The level generator: every tier, solvable by construction, reproducible."""

from dataclasses import replace

import pytest
from function_quest import Level
from function_quest.env import FunctionQuestEnv
from function_quest.generator import TIERS, generate


@pytest.mark.parametrize("tier", list(TIERS))
def test_generated_levels_are_solvable_reproducible_and_fit(tier: str) -> None:
    for seed in range(15):
        level = generate(seed, tier)
        assert level == generate(seed, tier)
        assert level.difficulty == tier
        assert Level.from_toml(level.to_toml()) == level
        # Replays the hidden plan in a copy where no call fails.
        sure = replace(level, functions=tuple(replace(f, failure=0.0) for f in level.functions))
        env = FunctionQuestEnv(sure)  # fits the default observation
        env.reset(seed=0)
        names = [f.name for f in level.functions]
        terminated = False
        for name in level.meta["hidden_plan"]:
            assert env.action_masks()[names.index(name)], (tier, seed, name)
            _, _, terminated, _, info = env.step(names.index(name))
            assert not info["illegal"]
        assert terminated, (tier, seed)
        assert level.meta["hidden_cost"] <= level.budget


def test_tiers_grow_and_bad_tiers_are_refused() -> None:
    sizes = [len(generate(0, tier).functions) for tier in TIERS]
    assert sizes[0] < sizes[2] < sizes[-1]
    assert any(f.failure > 0 for f in generate(0, "expert").functions)
    assert any(f.warmup > 0 for f in generate(0, "hard").functions)
    assert any(f.consumes for f in generate(0, "hard").functions)
    with pytest.raises(ValueError, match="unknown difficulty 'nightmare'"):
        generate(0, "nightmare")
