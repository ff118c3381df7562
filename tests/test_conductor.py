"""The Conductor: learning, deciding, evaluating, saving and loading."""

from dataclasses import replace
from pathlib import Path

import function_quest as fq
import numpy as np
import pandas as pd
import pytest
import torch
from function_quest.packs import load_pack

from symphony_lab.conductor import (
    Conductor,
    ConductorConfig,
    ConductorError,
    ConductorFileError,
    Evaluation,
    NetworkConfig,
    checkpoint,
)

SMALL = ConductorConfig(network=NetworkConfig(width=32), n_steps=64, batch_size=64)


def test_imitation_and_ppo_learn_a_tiny_pack() -> None:
    levels = load_pack("train", "easy")[:8]
    conductor = Conductor(SMALL, seed=0)
    before = conductor.evaluate(levels, baselines=False).summary().loc["conductor"]
    conductor.train(levels, total_steps=512, n_envs=2, pretrain="expert", pretrain_episodes=40)
    after = conductor.evaluate(levels, baselines=False).summary().loc["conductor"]
    assert after["solve_rate"] >= 0.875, after
    # Untrained, it solves these easy levels already (a call that changes
    # nothing is never offered, so it cannot loop); learning makes it cheaper.
    assert after["cost_ratio"] < before["cost_ratio"]
    assert conductor.num_timesteps >= 512
    assert conductor.history
    assert {"steps", "solve_rate", "mean_return"} <= set(conductor.history[-1])


def test_the_same_seed_gives_the_same_weights() -> None:
    levels = load_pack("train", "tutorial")[:4]
    weights = []
    for _ in range(2):
        c = Conductor(SMALL, seed=3).train(levels, total_steps=128, n_envs=2)
        weights.append(c.net.state_dict())
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_decisions_follow_the_functions_and_ignore_the_order_of_kinds() -> None:
    level = fq.load("software_delivery")
    conductor = Conductor(SMALL, seed=0)
    order = list(reversed(range(len(level.functions))))
    shuffled = replace(
        level,
        functions=tuple(level.functions[i] for i in order),
        kinds=dict(reversed(list(level.kinds.items()))),
    )
    logits = []
    for lv in (level, shuffled):
        env = conductor.make_env([lv])
        obs, _ = env.reset(seed=0)
        with torch.inference_mode():
            logits.append(conductor.net(conductor.tensors(obs))[0][0, : len(level.functions)])
    assert torch.allclose(logits[0][order], logits[1], atol=1e-5)


def test_one_policy_serves_larger_levels_than_it_was_built_for() -> None:
    conductor = Conductor(SMALL, seed=0)
    env = conductor.make_env([fq.load("software_delivery")], max_functions=48, max_kinds=40)
    obs, _ = env.reset(seed=0)
    assert obs["function_mask"].shape == (48,)
    choice = conductor.decide(obs, env.action_masks())
    assert env.action_masks()[choice]
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    masks = np.stack([env.action_masks()] * 2)
    assert conductor.decide_batch(batch, masks).tolist() == [choice, choice]


def test_save_and_load_keep_decisions_and_resume_training(tmp_path: Path) -> None:
    levels = load_pack("train", "tutorial")[:4]
    conductor = Conductor(SMALL, seed=1).train(
        levels, total_steps=256, n_envs=2, checkpoint_every=128, checkpoint_dir=tmp_path / "ck"
    )
    saved = sorted((tmp_path / "ck").glob("conductor-*.pt"))
    assert saved, "a checkpoint every 128 steps"
    path = conductor.save(tmp_path / "c.pt")
    loaded = Conductor.load(path)
    assert loaded.config == conductor.config
    assert loaded.num_timesteps == conductor.num_timesteps
    env = conductor.make_env(levels)
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        assert loaded.decide(obs, env.action_masks()) == conductor.decide(obs, env.action_masks())
    loaded.train(levels, total_steps=128, n_envs=2)
    assert loaded.num_timesteps >= conductor.num_timesteps + 128
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def test_bad_files_raise_errors_that_name_the_problem(tmp_path: Path) -> None:
    good = Conductor(SMALL).save(tmp_path / "good.pt")
    data = good.read_bytes()
    cases = {
        "missing": (tmp_path / "nope.pt", "cannot be read"),
        "foreign": (tmp_path / "foreign.pt", "not a saved Conductor"),
        "truncated": (tmp_path / "truncated.pt", "truncated"),
        "corrupt": (tmp_path / "corrupt.pt", "corrupt"),
    }
    cases["foreign"][0].write_bytes(b"PK\x03\x04 some zip")
    cases["truncated"][0].write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[-100] ^= 0xFF
    cases["corrupt"][0].write_bytes(bytes(flipped))
    for name, (path, message) in cases.items():
        with pytest.raises(ConductorFileError, match=message):
            Conductor.load(path)
        assert name
    payload = checkpoint.read(good)
    newer = tmp_path / "newer.pt"
    checkpoint.write(newer, {**payload, "observation_version": 999})
    with pytest.raises(ConductorFileError, match="observation version 999"):
        Conductor.load(newer)
    odd = tmp_path / "odd.pt"
    checkpoint.write(odd, {**payload, "config": {**payload["config"], "colour": "red"}})
    with pytest.raises(ConductorFileError, match="colour"):
        Conductor.load(odd)


def test_bad_requests_raise_documented_errors() -> None:
    conductor = Conductor(SMALL)
    with pytest.raises(ConductorError, match="unknown levels 'nightmare'"):
        conductor.make_env("nightmare")
    with pytest.raises(ConductorError, match="no_such_package"):
        conductor.make_env("no_such_package:Nothing-v0")
    with pytest.raises(ValueError, match="pretrain must be None or 'expert'"):
        conductor.train("tutorial", total_steps=8, pretrain="magic")
    env = conductor.make_env([fq.load("key_and_door")])
    obs, _ = env.reset(seed=0)
    del obs["cost_to_go"]
    with pytest.raises(ConductorError, match="cost_to_go"):
        conductor.decide(obs)
    with pytest.raises(ConductorError, match="allows no call"):
        conductor.decide(env.reset(seed=0)[0], np.zeros(32, bool))


def test_evaluation_sets_the_conductor_beside_every_baseline(tmp_path: Path) -> None:
    conductor = Conductor(SMALL)
    ev = conductor.evaluate("test-tutorial", episodes=5)
    assert set(ev.frame["agent"]) == {
        "conductor",
        "random",
        "greedy",
        "relaxed_greedy",
        "exact_replanning",
    }
    assert len(ev.frame) == 25
    summary = ev.summary()
    assert summary.loc["exact_replanning", "solve_rate"] == 1.0
    assert summary.loc["exact_replanning", "cost_ratio"] == pytest.approx(1.0)
    fig = ev.plot(tmp_path / "eval.png")
    assert (tmp_path / "eval.png").stat().st_size > 1000
    assert len(fig.axes) == 2


def test_the_breakdown_reads_the_out_of_distribution_targets() -> None:
    ev = Conductor(SMALL).evaluate("ood-paper_writing", episodes=12)
    f = ev.frame
    assert {"flaky", "bonus_match"} <= set(f.columns)
    assert f["flaky"].any()
    assert not f["flaky"].all()
    has_extras = f["bonus_match"].notna()
    assert has_extras.any()
    out = ev.breakdown()
    assert list(out.columns) == ["levels", "solve_rate", "deterministic", "flaky", "bonus_match"]
    best = out.loc["exact_replanning"]
    assert best["solve_rate"] == 1.0
    assert best["deterministic"] == pytest.approx(1.0)
    assert best["bonus_match"] == 1.0  # the optimum's own choice, on deterministic levels
    rows = f[f["agent"] == "conductor"]
    assert out.loc["conductor", "bonus_match"] == pytest.approx(rows["bonus_match"].mean())
    twice = Evaluation(pd.concat([f, f])).breakdown()  # labels repeat: the same figures
    pd.testing.assert_frame_equal(twice.drop(columns="levels"), out.drop(columns="levels"))


@pytest.mark.parametrize("tier", ["medium", "expert"])
def test_the_numpy_decision_path_equals_the_network(tier: str) -> None:
    from symphony_lab.conductor.fast import FastLogits

    conductor = Conductor(replace(SMALL, network=NetworkConfig(width=24, rounds=3)), seed=5)
    fast = FastLogits(conductor.net)
    env = Conductor(SMALL).make_env(load_pack("val", tier)[:10], max_functions=40, max_kinds=36)
    rng = np.random.default_rng(0)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        for _ in range(4):
            with torch.inference_mode():
                full = conductor.net(conductor.tensors(obs))[0][0].numpy()
            ours = fast(obs)
            real = obs["function_mask"] == 1
            np.testing.assert_allclose(ours[real], full[real], rtol=1e-4, atol=1e-5)
            assert np.isneginf(ours[~real]).all()
            mask = env.action_masks()
            assert conductor.decide(obs, mask) == int(np.argmax(np.where(mask, full, -np.inf)))
            legal = np.flatnonzero(mask)
            if legal.size == 0:
                break
            obs, _, done, cut, _ = env.step(int(rng.choice(legal)))
            if done or cut:
                break


def test_listeners_see_each_rollout_and_tensorboard_logs_when_asked(tmp_path: Path) -> None:
    rows: list[dict] = []
    levels = load_pack("train", "tutorial")[:4]
    Conductor(SMALL, seed=0).train(
        levels, total_steps=256, n_envs=2, callbacks=[rows.append], tensorboard_log=tmp_path
    )
    assert [r["steps"] for r in rows] == [128.0, 256.0]
    assert list(tmp_path.rglob("events.out.tfevents.*")), "a TensorBoard event file"
    with pytest.raises(TypeError, match="callback"):
        Conductor(SMALL).train(levels, total_steps=64, callbacks=[42])  # type: ignore[list-item]


def test_decide_handles_any_padding_layout_and_float_flags() -> None:
    conductor = Conductor(SMALL, seed=2)
    env = conductor.make_env([fq.load("software_delivery")])
    obs, _ = env.reset(seed=0)
    mask = env.action_masks()
    n = int(obs["function_mask"].sum())
    # Move the first function to the last slot: padding is no longer a suffix.
    order = np.r_[1:32, 0] if n < 32 else np.arange(32)
    moved = {
        k: (v[order] if v.shape[:1] == (32,) else v) for k, v in obs.items() if k != "budget_left"
    }
    moved["budget_left"] = obs["budget_left"]
    with torch.inference_mode():
        full = conductor.net(conductor.tensors(moved))[0][0].numpy()
    expected = int(np.argmax(np.where(mask[order], full, -np.inf)))
    assert conductor.decide(moved, mask[order]) == expected
    floats = {k: v.astype(np.float32) for k, v in obs.items()}
    assert conductor.decide(floats, mask) == conductor.decide(obs, mask)
    with pytest.raises(ConductorError, match="decide_batch"):
        conductor.decide({k: np.stack([v, v]) for k, v in obs.items()})
    with pytest.raises(ConductorError, match="the mask has shape"):
        conductor.decide(obs, mask[:5])


def test_decisions_follow_weights_edited_in_place() -> None:
    conductor = Conductor(SMALL, seed=4)
    env = conductor.make_env([fq.load("software_delivery")])
    obs, _ = env.reset(seed=0)
    mask = env.action_masks()
    before = conductor.decide(obs, mask)  # takes the numpy copy of the weights
    with torch.no_grad():
        conductor.net.score[-1].weight.mul_(-3.0)  # reverses the ranking
    with torch.inference_mode():
        full = conductor.net(conductor.tensors(obs))[0][0].numpy()
    after = conductor.decide(obs, mask)
    assert after == int(np.argmax(np.where(mask, full, -np.inf)))
    assert after != before


def test_training_again_with_other_envs_rebuilds_and_keeps_the_weights() -> None:
    levels = load_pack("train", "tutorial")[:4]
    conductor = Conductor(SMALL, seed=0).train(levels, total_steps=128, n_envs=2)
    before = {k: v.clone() for k, v in conductor.net.state_dict().items()}
    wide = [fq.load("software_delivery"), *levels]
    conductor.train(wide, total_steps=96, n_envs=3, vec_env="subproc")
    conductor.train(wide, total_steps=96, n_envs=3, vec_env="subproc")
    assert conductor.num_timesteps >= 128 + 2 * 96
    changed = any(not torch.equal(v, conductor.net.state_dict()[k]) for k, v in before.items())
    assert changed


def test_a_conductor_without_cost_to_go_ignores_it() -> None:
    plain = Conductor(replace(SMALL, cost_to_go=False), seed=0)
    env = Conductor(SMALL).make_env([fq.load("software_delivery")])  # observes cost_to_go
    obs, _ = env.reset(seed=0)
    without = {k: v for k, v in obs.items() if k != "cost_to_go"}
    mask = env.action_masks()
    assert plain.decide(obs, mask) == plain.decide(without, mask)
    with torch.inference_mode():
        a = plain.net(plain.tensors(obs))[0]
        b = plain.net(plain.tensors(without))[0]
    assert torch.equal(a, b)


def test_files_with_odd_contents_are_refused_by_name(tmp_path: Path) -> None:
    payload = checkpoint.read(Conductor(SMALL).save(tmp_path / "good.pt"))
    for change, message in [
        ({"seed": "x"}, "does not hold a Conductor"),
        ({"num_timesteps": "many"}, "does not hold a Conductor"),
        ({"history": 5}, "does not hold a Conductor"),
        ({"optimizer": {"junk": 1}}, "optimiser state is malformed"),
        ({"weights": {}}, "does not hold a Conductor"),
    ]:
        path = checkpoint.write(tmp_path / "odd.pt", {**payload, **change})
        with pytest.raises(ConductorFileError, match=message):
            Conductor.load(path)
    assert oct((tmp_path / "odd.pt").stat().st_mode & 0o777) == "0o644"


def test_training_uses_the_threads_asked_and_gives_the_setting_back() -> None:
    levels = load_pack("train", "tutorial")[:4]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen: list[int] = []
        Conductor(SMALL, seed=0).train(
            levels,
            total_steps=128,
            n_envs=2,
            callbacks=[lambda _row: seen.append(torch.get_num_threads())],
        )
        assert seen == [1], "one thread by default"
        assert torch.get_num_threads() == 2, "the caller's setting, as it was"
        seen.clear()
        Conductor(SMALL, seed=0).train(
            levels,
            total_steps=64,
            n_envs=1,
            threads=None,
            callbacks=[lambda _row: seen.append(torch.get_num_threads())],
        )
        assert seen == [2], "None leaves PyTorch as it is"
        with pytest.raises(ValueError, match="threads must be >= 1"):
            Conductor(SMALL).train(levels, total_steps=8, threads=0)
    finally:
        torch.set_num_threads(before)
