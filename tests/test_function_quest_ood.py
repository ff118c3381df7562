"""The out-of-distribution packs: pipeline families written apart from the
generator, and levels larger than any in training; evaluation only."""

from __future__ import annotations

import pytest
from function_quest import resolve_levels
from function_quest.generator import Knobs, generate
from function_quest.packs import OOD, PackError, load_pack, seeds
from function_quest.pipelines import FAMILIES, LARGE_MAX_STATES, large, pipeline

from symphony_lab.cli import OOD_PACKS
from symphony_lab.planning import (
    Problem,
    SearchLimitError,
    expected_costs,
    expected_optimum,
    solve,
)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_is_a_pack_of_pipelines_with_what_it_stands_for(family: str) -> None:
    levels = load_pack("ood", family)
    assert len(levels) == OOD[family][1]
    assert levels[0] == pipeline(family, levels[0].seed)  # type: ignore[arg-type]
    assert all(level.meta["family"] == family for level in levels)
    assert all(20 <= len(level.functions) <= 48 for level in levels)
    flaky = [any(f.failure > 0 for f in level.functions) for level in levels]
    assert 0 < sum(flaky) < len(levels)  # both kinds, so both targets are measured
    extras = [level for level in levels if any(g.importance != "essential" for g in level.goals)]
    assert extras
    taken = {bool({g.kind for g in lv.goals if g.importance != "essential"} & plan.held)
             for lv in extras if (plan := expected_optimum(lv)) is not None}  # fmt: skip
    assert taken == {True, False}  # optional goals worth their cost, and some not
    for level in levels:
        plan = solve(expected_costs(level), budget=float("inf"))
        assert plan is not None
        assert plan.cost <= level.budget


def test_large_levels_pass_every_training_size_and_stay_exactly_scored() -> None:
    levels = load_pack("ood", "large")
    train = max(len(lv.functions) for lv in resolve_levels("expert"))
    assert all(41 <= len(lv.functions) <= 64 and len(lv.kinds) <= 64 for lv in levels)
    assert min(len(lv.functions) for lv in levels) > train
    assert levels[0] == large(levels[0].seed // 1000)  # type: ignore[operator]
    plan = solve(expected_costs(levels[0]), budget=float("inf"), max_states=LARGE_MAX_STATES)
    assert plan is not None


def test_no_ood_seed_is_a_training_seed_and_names_resolve() -> None:
    ood = {s for pack in OOD for s in seeds("ood", pack)}
    assert not ood & set(seeds("train"))
    assert not ood & set(seeds("val"))
    assert len(resolve_levels("ood")) == sum(OOD[f][1] for f in FAMILIES)
    assert resolve_levels("ood-large") == load_pack("ood", "large")
    assert tuple(f"ood-{pack}" for pack in OOD) == OOD_PACKS  # what symphony run reports
    with pytest.raises(PackError, match="unknown pack 'huge'"):
        load_pack("ood", "huge")
    with pytest.raises(ValueError, match="ood-<pack>"):
        resolve_levels("ood-huge")


def test_the_exact_search_gives_up_by_name_and_a_fast_one_still_plans() -> None:
    level = load_pack("ood", "large")[0]
    with pytest.raises(SearchLimitError, match=r"large-400000.*reached 10 states"):
        solve(Problem(level), budget=float("inf"), max_states=10)
    # Goals of many independent parts: h_max stays flat across them, and the
    # exact search runs out of states where one guided by h_add does not.
    wide = generate(777002, knobs=Knobs(5, (1, 3), 4, 3, 3, 0.15, 2, 1, 2, 1.4, True))
    costs = expected_costs(wide)
    with pytest.raises(SearchLimitError):
        solve(costs, budget=float("inf"), max_states=50_000)
    fast = solve(costs, budget=float("inf"), max_states=50_000, fast=2.0)
    best = solve(costs, budget=float("inf"))
    assert fast is not None
    assert best is not None
    assert best.objective <= fast.objective <= 1.25 * best.objective
    with pytest.raises(ValueError, match="fast must be a finite weight >= 1"):
        solve(costs, fast=0.5)
