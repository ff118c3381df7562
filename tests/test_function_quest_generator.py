"""The level generator: every tier, solvable by construction, reproducible."""

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
        env = FunctionQuestEnv(level)  # fits the default observation
        names = [f.name for f in level.functions]
        for name in level.meta["hidden_plan"]:
            assert env.action_masks()[names.index(name)], (tier, seed, name)
            # Replays the hidden plan as if every call succeeded.
            f = level.function(name)
            env._held &= ~env._a.consumes_m[names.index(name)]
            env._held |= env._a.produces_m[names.index(name)]
            env._mask = None
            env.spent += f.cost
        assert env._won(), (tier, seed)
        assert level.meta["hidden_cost"] <= level.budget


def test_tiers_grow_and_bad_tiers_are_refused() -> None:
    sizes = [len(generate(0, tier).functions) for tier in TIERS]
    assert sizes[0] < sizes[2] < sizes[-1]
    assert any(f.failure > 0 for f in generate(0, "expert").functions)
    assert any(f.warmup > 0 for f in generate(0, "hard").functions)
    assert any(f.consumes for f in generate(0, "hard").functions)
    with pytest.raises(ValueError, match="unknown difficulty 'nightmare'"):
        generate(0, "nightmare")
