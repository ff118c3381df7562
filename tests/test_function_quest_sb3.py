"""Function Quest with the stack the Conductor trains on: SB3's env checker,
subprocess vector envs, and sb3-contrib's MaskablePPO reading action_masks()."""

import function_quest as fq
import numpy as np
from function_quest.env import FunctionQuestEnv
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.vec_env import SubprocVecEnv


def make_env() -> FunctionQuestEnv:
    return FunctionQuestEnv(fq.load("key_and_door"))


def test_sb3_env_checker_passes() -> None:
    check_env(make_env(), warn=True)
    check_env(FunctionQuestEnv(fq.load("software_delivery"), masked=False), warn=True)


def test_masks_reach_maskable_ppo_through_subprocesses() -> None:
    venv = SubprocVecEnv([make_env, make_env])
    try:
        venv.seed(0)
        venv.reset()
        masks = get_action_masks(venv)
        assert masks.shape == (2, 32)
        legal = [
            [fq.load("key_and_door").functions[a].name for a in np.flatnonzero(m)] for m in masks
        ]
        assert legal == [["find_key", "knock"], ["find_key", "knock"]]
        model = MaskablePPO("MultiInputPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, seed=0)
        model.learn(64)
        obs = venv.reset()
        actions, _ = model.predict(obs, action_masks=get_action_masks(venv))
        for a, mask in zip(actions, get_action_masks(venv), strict=True):
            assert mask[a]  # the policy never picks a masked call
    finally:
        venv.close()
