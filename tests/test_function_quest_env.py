"""The Function Quest environment: conformance, rewards, masks, Pit state."""

import warnings

import function_quest as fq
import gymnasium as gym
import numpy as np
import pytest
from function_quest.env import FunctionQuestEnv
from gymnasium.utils.env_checker import check_env

from symphony_lab.pit import PoolClosed
from symphony_lab.planning import ObservationSpec


def door() -> FunctionQuestEnv:
    return FunctionQuestEnv(fq.load("key_and_door"), render_mode="ansi")


def play(env: FunctionQuestEnv, names: list[str]) -> list[tuple[float, bool, bool]]:
    index = {f.name: i for i, f in enumerate(env.level.functions)}
    out = []
    for name in names:
        _, reward, terminated, truncated, _ = env.step(index[name])
        out.append((float(reward), terminated, truncated))
    return out


def test_make_by_id_and_the_checker_pass() -> None:
    env = gym.make("function_quest:FunctionQuest-v0", levels=fq.load("key_and_door"))
    assert isinstance(env.unwrapped, FunctionQuestEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from the checker either
        check_env(env.unwrapped, skip_render_check=True)


def test_the_optimal_plan_wins_with_the_documented_reward() -> None:
    env = door()
    env.reset(seed=1)
    steps = play(env, ["find_key", "use_key", "open_door"])
    assert steps[:2] == [(-1.0, False, False), (-1.0, False, False)]
    reward, terminated, truncated = steps[2]
    assert terminated
    assert not truncated
    assert reward == -1.0 + env.goal_bonus + 10.0  # the goal's own reward
    info = env._info()
    assert (info["calls"], info["cost"], info["optimal_cost"]) == (3, 3.0, 3.0)
    dag = env.unwrapped.dag()
    assert len(dag) == 3
    assert dag.predecessors(1) == [0]
    assert dag.predecessors(2) == [1]
    assert "held:  map, open_door, unlocked_door" in env.render()


def test_masks_in_both_modes_and_the_illegal_call_penalty() -> None:
    env = door()
    env.reset(seed=0)
    names = [f.name for f in env.level.functions]
    assert [names[a] for a in np.flatnonzero(env.action_masks())] == ["find_key", "knock"]
    unmasked = FunctionQuestEnv(fq.load("key_and_door"), masked=False)
    obs, _ = unmasked.reset(seed=0)
    assert unmasked.action_masks().sum() == len(names)  # preconditions not given away
    after, reward, terminated, truncated, info = unmasked.step(names.index("open_door"))
    assert info["illegal"]
    assert reward == -unmasked.illegal_penalty
    assert not terminated
    assert not truncated
    for key in obs:
        np.testing.assert_array_equal(obs[key], after[key])
    assert unmasked.step(31)[4]["illegal"]  # a padding slot


def test_warm_ups_come_from_the_pool_on_a_virtual_clock() -> None:
    env = FunctionQuestEnv(fq.load("software_delivery"))
    env.reset(seed=0)
    first = play(
        env,
        [
            "enhance_prompt",
            "extract_features",
            "create_plan",
            "coordinate_tasks",
            "visualize_logic",
        ],
    )
    assert [r for r, _, _ in first] == [-1.0, -2.0, -2.0, -1.5, -1.0]
    gen = [f.name for f in env.level.functions].index("generate_code")
    assert env._observe()["warm"][gen] == 0
    _, reward, *_ = env.step(gen)
    cold = env.level.function("generate_code")
    paid = cold.cost + cold.warmup  # cold: the pool says so
    if env.failures:
        assert reward == -paid - env.fail_penalty
        assert env._observe()["warm"][gen] == 0  # the failed instance went cold
    else:
        assert reward == -paid + env.goal_bonus + 20.0  # won: code's reward
        assert env._observe()["warm"][gen] == 1
    assert env.pool.is_virtual
    assert env.pool.now > 0


def test_the_same_seed_gives_the_same_level_and_trajectory() -> None:
    def run(seed: int) -> list[tuple[str, float]]:
        env = FunctionQuestEnv()
        _, info = env.reset(seed=seed)
        trace = [(info["level"], 0.0)]
        rng = np.random.default_rng(seed)
        for _ in range(30):
            legal = np.flatnonzero(env.action_masks())
            _, reward, terminated, truncated, _ = env.step(int(rng.choice(legal)))
            trace.append((env.calls[-1], float(reward)))
            if terminated or truncated:
                break
        return trace

    assert run(3) == run(3)
    assert len({tuple(run(s)) for s in range(8)}) > 1


def test_a_call_that_would_change_nothing_is_not_offered() -> None:
    env = door()
    env.reset(seed=0)
    knock = [f.name for f in env.level.functions].index("knock")
    assert env.action_masks()[knock]
    *_, info = env.step(knock)
    assert not info["illegal"]
    assert not env.action_masks()[knock], "the noise is held: knocking again changes nothing"
    spent = env.spent
    _, again, _, _, info = env.step(knock)
    assert info["illegal"]
    assert env.spent == spent, "refused, so not paid for"
    assert again == -env.illegal_penalty
    # The old rules, on request: the call is offered and paid for again.
    old = FunctionQuestEnv(fq.load("key_and_door"), idle_calls=True)
    old.reset(seed=0)
    old.step(knock)
    assert old.action_masks()[knock]
    _, _, _, _, info = old.step(knock)
    assert not info["illegal"]


def test_the_budget_truncates() -> None:
    env = FunctionQuestEnv(fq.load("key_and_door"), idle_calls=True)  # knocking until broke
    env.reset(seed=0)
    knock = [f.name for f in env.level.functions].index("knock")
    truncated = False
    for _ in range(30):
        *_, truncated, _ = env.step(knock)
        if truncated:
            break
    assert truncated
    assert env.spent <= env.level.budget


def test_vectorised_environments() -> None:
    envs = gym.make_vec("function_quest:FunctionQuest-v0", num_envs=3, vectorization_mode="sync")
    obs, _ = envs.reset(seed=0)
    assert obs["held"].shape == (3, 32)
    _, reward, terminated, _, _ = envs.step(np.zeros(3, dtype=np.int64))
    assert reward.shape == (3,)
    assert terminated.shape == (3,)
    envs.close()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="max_functions=2"):
        FunctionQuestEnv(fq.load("key_and_door"), max_functions=2)
    with pytest.raises(ValueError, match="render_mode"):
        FunctionQuestEnv(render_mode="human")
    with pytest.raises(ValueError, match="at most 1 kinds"):
        ObservationSpec(max_functions=4, max_kinds=1).encode(
            n_kinds=2, held=[], goal=[], bonus_goal=[], functions=[], budget_left=1.0
        )


def test_the_relaxed_cost_to_go_feature() -> None:
    env = FunctionQuestEnv(fq.load("key_and_door"), cost_to_go=True)
    obs, _ = env.reset(seed=0)
    assert "cost_to_go" in env.observation_space.spaces
    names = [f.name for f in env.level.functions]
    to_go = dict(zip(names, obs["cost_to_go"][: len(names)], strict=True))
    assert to_go["find_key"] == 3.0  # 1 now, then use_key + open_door
    assert to_go["knock"] == 3.5  # 0.5 now, and still 3 to go
    assert to_go["use_key"] == to_go["open_door"] == 1e6  # cannot be called yet
    assert "cost_to_go" not in FunctionQuestEnv().observation_space.spaces


def tiny(budget: float, *, warmup: float = 0.0, free_finish: bool = False) -> fq.Level:
    finish = '[[functions]]\nname = "h"\nreads = ["b"]\nproduces = ["c"]\ncost = 0.0\n'
    return fq.Level.from_toml(
        f"""
id = "tiny"
budget = {budget}
initial = ["a"]
[kinds]
a = "a"
b = "b"
c = "c"
[[goals]]
kind = "{"c" if free_finish else "b"}"
[[functions]]
name = "f"
reads = ["a"]
produces = ["b"]
cost = 1.0
warmup = {warmup}
"""
        + (finish if free_finish else "")
    )


def test_the_mask_prices_a_cold_call_with_its_warm_up() -> None:
    env = FunctionQuestEnv(tiny(2.0, warmup=5.0))
    env.reset(seed=0)
    assert not env.action_masks().any()  # 1 + 5 does not fit a budget of 2
    assert fq.solve(env.level) is None


def test_a_free_call_after_the_budget_is_spent_can_still_win() -> None:
    env = FunctionQuestEnv(tiny(1.0, free_finish=True))
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(0)
    assert (terminated, truncated) == (False, False)
    _, _, terminated, truncated, _ = env.step(1)
    assert terminated


def test_levels_sharing_an_id_keep_their_own_optimum_and_a_refused_level_changes_nothing() -> None:
    cheap, dear = tiny(10.0), tiny(10.0, warmup=2.0)
    env = FunctionQuestEnv([cheap, dear])
    _, info = env.reset(options={"level": cheap})
    assert info["optimal_cost"] == 1.0
    _, info = env.reset(options={"level": dear})
    assert info["optimal_cost"] == 3.0
    small = FunctionQuestEnv(fq.load("software_delivery"), max_functions=20)
    with pytest.raises(ValueError, match="max_functions=20"):
        small.reset(options={"level": _wide_level()})
    assert small.level.id == "software_delivery"
    assert small.legal_actions().sum() > 0  # still playing its own level


def _wide_level() -> fq.Level:
    functions = "".join(
        f'[[functions]]\nname = "f{i}"\nreads = ["a"]\nproduces = ["b"]\ncost = 1.0\n'
        for i in range(21)
    )
    return fq.Level.from_toml(
        'id = "wide"\nbudget = 5.0\ninitial = ["a"]\n[kinds]\na = "a"\nb = "b"\n'
        '[[goals]]\nkind = "b"\n' + functions
    )


def test_the_pit_episode_core_refuses_bad_input_clearly() -> None:
    from symphony_lab.pit import DagTracker, PoolManager, QuestEpisode

    level = dict(
        needs=[0],
        consumes=[0],
        produces=[1],
        cost=[1.0],
        warmup=[0.0],
        latency=[1.0],
        failure=[0.0],
        essential=1,
        start=0,
        budget=5.0,
        names=["make"],
    )
    with pytest.raises(ValueError, match="failure must be in"):
        QuestEpisode(**{**level, "failure": [1.5]})
    with pytest.raises(ValueError, match="latency and names need one entry per function"):
        QuestEpisode(**{**level, "names": []})
    with pytest.raises(ValueError, match="'make': latency must be finite"):
        QuestEpisode(**{**level, "latency": [float("nan")]})
    core = QuestEpisode(**level)
    with pytest.raises(RuntimeError, match="reset"):
        core.step(0)
    with pytest.raises(ValueError, match="virtual clock"):
        core.reset(PoolManager(reaper_interval=None), DagTracker(), 0)
    used = DagTracker()
    used.add_task("x")
    with pytest.raises(ValueError, match="empty DagTracker"):
        core.reset(PoolManager(clock="virtual"), used, 0)
    pool = PoolManager(clock="virtual", reaper_interval=None)
    dag = DagTracker()
    core.reset(pool, dag, 0)
    with pytest.raises(ValueError, match="fresh PoolManager: it already has function 'make'"):
        core.reset(pool, DagTracker(), 0)
    dag.add_task(0)  # a task the episode did not add, under the key of its next call
    with pytest.raises(RuntimeError, match="already has a task 0"):
        core.step(0)
    assert (core.call_count, core.spent, core.held) == (0, 0.0, 0)  # nothing happened
    core.reset(PoolManager(clock="virtual"), DagTracker(), 0)
    assert core.step(2**70)[1]  # too large for any index: illegal, not an error
    with pytest.raises(TypeError):
        core.step("make")
    assert core.step(-1) == (0.0, True, False, False, False)  # no such function
    assert core.step(7) == (0.0, True, False, False, False)
    assert core.step(0) == (1.0, False, False, True, False)  # made it; may call again
    core.reset(pool := PoolManager(clock="virtual"), DagTracker(), 0)
    pool.shutdown()
    with pytest.raises(PoolClosed):
        core.step(0)


def test_cached_state_arrays_cannot_be_written() -> None:
    from symphony_lab.planning.observation import bits

    a = bits(5, 8)
    assert a.tolist() == [1, 0, 1, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 9
    with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
        a.flags.writeable = True
    assert bits(5, 8).tolist() == [1, 0, 1, 0, 0, 0, 0, 0]


def test_the_pool_is_the_truth_on_warmth() -> None:
    level = fq.Level.from_toml(
        """
id = "twice"
budget = 100.0
initial = ["a"]
[kinds]
a = "a"
b = "b"
c = "c"
d = "d"
[[goals]]
kind = "d"
[[functions]]
name = "f"
reads = ["a"]
produces = ["b"]
cost = 1.0
warmup = 2.0
[[functions]]
name = "g"
consumes = ["b"]
produces = ["c"]
cost = 1.0
[[functions]]
name = "h"
reads = ["b", "c"]
produces = ["d"]
cost = 1.0
"""
    )
    env = FunctionQuestEnv(level)
    env.reset(seed=0)
    assert env.step(0)[1] == -3.0  # f, cold: cost + warm-up
    env.step(1)  # g uses b up
    obs, *_ = env.step(1)  # illegal now: no b
    assert obs["warm"][0] == 1
    ((instance, state, _),) = env.pool.instances("f")
    assert state == "idle"
    env.pool.cool(instance)  # behind the episode's back
    _, reward, *_ = env.step(0)
    assert reward == -3.0  # the pool started f again, so the warm-up is paid
    assert env.spent == 3.0 + 1.0 + 3.0
