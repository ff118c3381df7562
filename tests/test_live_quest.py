"""The live tier: parallel calls on a clock, a makespan price, hidden
service outages that only outcomes reveal, and the planners beside it."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from function_quest.live import LiveQuestEnv, learned_expert, sweep
from function_quest.live_baselines import CriticalPath, fit_world, informed, reestimated
from function_quest.live_levels import SERVICES, World, live_level, live_levels

from symphony_lab.conductor import Conductor, ConductorError
from symphony_lab.conductor.conductor import ConductorConfig
from symphony_lab.conductor.fast import FastLogits
from symphony_lab.conductor.network import NetworkConfig
from symphony_lab.planning import EnvPolicy, Function, Goal, Level, Problem

#: A level to reason about by hand: two independent stages that a join
#: needs, each on its own service; one slot or two, time at 1 per unit.
SERVICES_HELD = ("input", "svc_a", "svc_b")


def two_stages(capacity: int, *, failure: float = 0.0) -> Level:
    def stage(name: str, makes: str, service: str, cost: float, latency: float) -> Function:
        return Function(name, reads=("input", service), produces=(makes,), cost=cost,
                        latency=latency, failure=failure)  # fmt: skip

    return Level(
        id=f"two-{capacity}",
        title="two stages",
        story="",
        kinds={k: k for k in ("input", "svc_a", "svc_b", "x", "y", "result")},
        initial=SERVICES_HELD,
        goals=(Goal("result"),),
        functions=(
            stage("make_x", "x", "svc_a", 2.0, 3.0),
            stage("make_y", "y", "svc_b", 1.0, 4.0),
            Function("join", reads=("x", "y"), produces=("result",), cost=1.0, latency=1.0),
        ),
        budget=100.0,
        meta={"capacity": capacity, "time_cost": 1.0},
    )


CALM = World(outage={s: 0.0 for s in SERVICES})


def play(env: LiveQuestEnv, actions: list[int]) -> tuple[float, dict]:
    total, info = 0.0, {}
    for a in actions:
        _, reward, won, cut, info = env.step(a)
        total += float(reward)
        if won or cut:
            break
    return total, info


def test_calls_run_side_by_side_up_to_the_capacity_and_time_is_priced() -> None:
    env = LiveQuestEnv([two_stages(2)], world=CALM)
    env.reset(seed=0)
    assert env.legal_actions()[:4].tolist() == [True, True, False, False]  # no wait: nothing flies
    env.step(0)  # make_x starts; a slot is free, so the next decision comes at once
    assert env.clock == 0.0
    assert env.legal_actions()[[1, 3]].tolist() == [True, True]
    env.step(1)  # the pool is full: the clock runs to x (3), then to y (4), join may start
    assert env.clock == 4.0
    assert env.held_kinds() >= {"x", "y"}
    _, reward, won, _, info = env.step(2)
    assert won
    assert env.clock == 5.0
    # Paid 2 + 1 + 1 for the calls and 5 units of time at 1 each; the last
    # step paid the join and one unit of time, and won the bonus.
    assert info["score"]["cost"] == pytest.approx(9.0)
    assert float(reward) == pytest.approx(-2.0 + env.goal_bonus)
    assert info["score"]["makespan"] == 5.0
    serial = LiveQuestEnv([two_stages(1)], world=CALM)
    serial.reset(seed=0)
    _, info = play(serial, [0, 1, 2])
    assert info["score"]["cost"] == pytest.approx(4.0 + 3.0 + 4.0 + 1.0)  # one slot: time adds up


def test_wait_lets_a_call_land_before_deciding_and_a_hedge_may_fly() -> None:
    env = LiveQuestEnv([two_stages(2)], world=CALM)
    env.reset(seed=0)
    env.step(0)
    wait = env.wait_slot
    assert env.action_masks()[wait]
    obs, reward, *_ = env.step(wait)
    assert env.clock == 3.0
    assert "x" in env.held_kinds()
    assert reward == pytest.approx(-3.0)  # three units of time
    assert obs["tried"][0] == 1
    assert obs["failed"][0] == 0
    # The wait slot reads the kinds in flight and marks itself.
    assert obs["wait"][wait] == 1
    assert obs["wait"].sum() == 1


def test_a_degraded_service_fails_its_calls_and_the_same_seed_meets_the_same_world() -> None:
    world = World(outage={"svc_a": 1.0, "svc_b": 0.0, "svc_c": 0.0}, outage_failure=1.0)
    env = LiveQuestEnv([two_stages(1)], world=world)
    env.reset(seed=3)
    assert env.down == frozenset({"svc_a"})
    obs, *_ = env.step(0)
    assert obs["failed"][0] == 1
    assert "x" not in env.held_kinds()
    level = live_level(7)
    a, b = LiveQuestEnv([level]), LiveQuestEnv([level])
    for seed in range(20):
        a.reset(seed=seed)
        b.reset(seed=seed)
        assert a.down == b.down
        assert np.array_equal(a._luck, b._luck)


def test_worlds_and_levels_are_checked() -> None:
    with pytest.raises(ValueError, match="svc_a must be in"):
        World(outage={"svc_a": 1.5})
    with pytest.raises(ValueError, match="live-train"):
        LiveQuestEnv("medium")
    with pytest.raises(ValueError, match="plan=False"):
        LiveQuestEnv(plan=True)
    train, test = live_levels("train"), live_levels("test")
    assert not {lv.id for lv in train} & {lv.id for lv in test}
    assert live_level(5) == live_level(5)


def test_the_world_is_fitted_from_outcomes_alone() -> None:
    env = LiveQuestEnv("live-train")
    planner = CriticalPath(reestimated)
    outcomes = []
    for seed in range(300):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, won, cut, _ = env.step(planner(obs, env.action_masks(), env))
            done = won or cut
        outcomes.append((env.level, env.tried.copy(), env.failed.copy()))
    fitted = fit_world(outcomes)
    truth = env.world
    assert fitted.outage_failure == pytest.approx(truth.outage_failure, abs=0.1)
    for s in SERVICES:
        assert fitted.outage[s] == pytest.approx(truth.outage[s], abs=0.12)


def test_planners_rank_as_knowledge_of_the_world_does() -> None:
    env = LiveQuestEnv("live-test", repeats=2)
    planners = env.baselines(0)

    def mean_cost(policy: EnvPolicy) -> float:
        return float(sweep(env, policy)[0].mean())

    replanning = mean_cost(planners["exact_replanning"])
    critical = mean_cost(planners["critical_path"])
    assert sweep(env, planners["critical_path"])[1] == 1.0
    knowing = mean_cost(CriticalPath(informed(env.world)))
    learned = mean_cost(learned_expert(live_levels("train"), env.world, episodes=300))
    assert knowing < critical < replanning
    # Fitted from outcomes alone, the learned planner comes close to the told one.
    assert learned < critical
    assert learned == pytest.approx(knowing, rel=0.05)


def test_the_numpy_forward_reads_the_live_arrays_as_the_network_does() -> None:
    config = ConductorConfig(network=NetworkConfig(width=16, live=True), plan=False)
    conductor = Conductor(config, seed=2)
    fast = FastLogits(conductor.net)
    env = LiveQuestEnv(live_levels("test")[:6])
    rng = np.random.default_rng(1)
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        for _ in range(8):
            with torch.inference_mode():
                full = conductor.net(conductor.tensors(obs))[0][0].numpy()
            real = obs["function_mask"] == 1
            np.testing.assert_allclose(fast(obs)[real], full[real], rtol=1e-4, atol=1e-5)
            mask = env.action_masks()
            assert conductor.decide(obs, mask) == int(np.argmax(np.where(mask, full, -np.inf)))
            obs, _, won, cut, _ = env.step(int(rng.choice(np.flatnonzero(mask))))
            if won or cut:
                break
    # A live network refuses an observation without the live arrays, by name.
    plain = Conductor(replace(config, cost_to_go=True)).make_env("easy")
    with pytest.raises(KeyError, match="running"):
        conductor.net(conductor.tensors(plain.reset(seed=0)[0]))


def test_the_conductor_trains_and_evaluates_on_the_live_tier_by_id() -> None:
    config = ConductorConfig(network=NetworkConfig(width=16, live=True), plan=False, n_steps=64)
    conductor = Conductor(config, seed=0)
    levels = live_levels("train")[:8]
    env = LiveQuestEnv(levels, expert="critical_path")
    conductor.train(lambda: LiveQuestEnv(levels), total_steps=256, n_envs=2)
    assert conductor.num_timesteps >= 256
    made = conductor.make_env("function_quest:LiveQuestTest-v0")
    assert isinstance(made.unwrapped, LiveQuestEnv)
    assert gym.spec("LiveQuestTest-v0").kwargs == {"levels": "live-test"}
    ev = conductor.evaluate("function_quest:LiveQuestTest-v0", episodes=6)
    agents = set(ev.frame["agent"])
    assert agents == {"conductor", "random", "exact_replanning", "critical_path"}
    assert (ev.frame["difficulty"] == "live").all()
    assert env.expert_action() in np.flatnonzero(env.action_masks())


def test_a_service_record_shows_on_its_kind() -> None:
    world = World(outage={"svc_a": 1.0, "svc_b": 0.0, "svc_c": 0.0}, outage_failure=1.0)
    env = LiveQuestEnv([two_stages(1)], world=world)
    env.reset(seed=0)
    obs, *_ = env.step(0)  # make_x on svc_a fails
    kinds = env.problem.kinds
    assert obs["read_tried"][kinds["svc_a"]] == 1
    assert obs["read_failed"][kinds["svc_a"]] == 1
    assert obs["read_failed"][kinds["svc_b"]] == 0
    assert obs["read_tried"][kinds["input"]] == 1  # make_x reads the input too


def test_the_critic_can_leave_the_encoder_to_the_policy() -> None:
    for trains in (True, False):
        net = Conductor(
            ConductorConfig(
                network=NetworkConfig(width=8, live=True, critic_trains_encoder=trains),
                plan=False,
            )
        ).net
        env = LiveQuestEnv(live_levels("test")[:2])
        obs, _ = env.reset(seed=0)
        tensors = {k: torch.from_numpy(np.asarray(v, np.float32))[None] for k, v in obs.items()}
        _, value = net(tensors)
        value.sum().backward()
        encoder = net.function_in[0].weight.grad
        touched = encoder is not None and bool(encoder.abs().sum() > 0)
        assert touched == trains
        assert net.value[0].weight.grad is not None


def test_the_live_config_reads_the_live_arrays_and_trains_on_the_live_tier() -> None:
    config = ConductorConfig.live(idle_calls=True)
    assert config.network.live
    assert not config.network.critic_trains_encoder
    assert not config.plan
    assert config.idle_calls
    assert config.learning_rate < ConductorConfig().learning_rate
    conductor = Conductor(config, seed=0)
    conductor.train(lambda: LiveQuestEnv([two_stages(1)], idle_calls=True), total_steps=256,
                    n_envs=1)  # fmt: skip
    assert conductor.num_timesteps == 256


def test_a_live_conductor_refuses_a_real_run_by_name() -> None:
    conductor = Conductor(ConductorConfig(network=NetworkConfig(live=True), plan=False))
    problem = Problem(two_stages(1))
    with pytest.raises(ConductorError, match="live observation"):
        conductor.choose(problem, problem.start_state())


def test_a_level_without_a_sound_pool_or_time_price_is_refused_by_name() -> None:
    for meta, field in (({"capacity": 0}, "capacity"), ({"time_cost": -1.0}, "time_cost"),
                        ({"capacity": "2"}, "capacity")):  # fmt: skip
        level = replace(two_stages(1), meta=meta)
        with pytest.raises(ValueError, match=f"two-1.*meta.{field}"):
            LiveQuestEnv([level])
    with pytest.raises(ValueError, match="expert must be one of"):
        LiveQuestEnv([two_stages(1)], expert="planner")


def test_training_refuses_an_observation_the_network_would_not_read() -> None:
    plain = Conductor(ConductorConfig(plan=False))
    with pytest.raises(ConductorError, match="NetworkConfig\\(live=True\\)"):
        plain.train(lambda: LiveQuestEnv([two_stages(1)]), total_steps=8)
    live = Conductor(ConductorConfig(network=NetworkConfig(live=True), plan=False))
    with pytest.raises(ConductorError, match="lacks"):
        live.train("easy", total_steps=8)
