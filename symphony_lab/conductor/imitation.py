"""Warm start: imitate the environment's expert before reinforcement learning.

The expert (Function Quest's: the exact planner, replanning after every call,
on expected costs) plays the environment's scenarios in turn; the network
learns its calls by masked cross-entropy and the discounted returns by
regression, so PPO starts from a policy that already wins and a critic that
already knows what winning is worth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from symphony_lab.conductor.errors import ConductorError

if TYPE_CHECKING:
    import gymnasium as gym

    from symphony_lab.conductor.conductor import Conductor


def demonstrations(
    conductor: Conductor, env: gym.Env[Any, Any], *, episodes: int, seed: int = 0
) -> dict[str, Any]:
    """Observations, masks, the expert's calls and discounted returns, from
    ``episodes`` episodes cycling over the env's scenarios."""
    game: Any = env.unwrapped  # the protocol's optional parts are found by name
    if not hasattr(game, "expert_action"):
        raise ConductorError(
            f"{type(game).__name__} has no expert_action(): there is nothing to imitate "
            "(train without pretrain, or give the env an expert)"
        )
    scenarios: list[dict[str, Any] | None] = (
        list(game.scenarios()) if hasattr(game, "scenarios") else [None]
    )
    obs_rows: list[dict[str, np.ndarray]] = []
    masks: list[np.ndarray] = []
    actions: list[int] = []
    returns: list[float] = []
    gamma = conductor.config.gamma
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode, options=scenarios[episode % len(scenarios)])
        rewards = []
        done = False
        while not done:
            mask = game.action_masks()
            action = game.expert_action()
            obs_rows.append(obs)
            masks.append(mask)
            actions.append(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            done = terminated or truncated
        to_go, backwards = 0.0, []
        for r in reversed(rewards):
            to_go = r + gamma * to_go
            backwards.append(to_go)
        returns.extend(reversed(backwards))
    env.close()
    stacked = {k: np.stack([o[k] for o in obs_rows]) for k in obs_rows[0]}
    return {
        "obs": stacked,
        "masks": np.stack(masks),
        "actions": np.array(actions),
        "returns": np.array(returns, np.float32),
    }


def imitate_expert(
    conductor: Conductor,
    env: gym.Env[Any, Any],
    *,
    episodes: int = 2000,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Trains ``conductor.net`` on the expert's demonstrations in ``env``;
    returns the accuracy on them after each epoch."""
    data = demonstrations(conductor, env, episodes=episodes, seed=seed)
    obs = {k: torch.from_numpy(v.astype(np.float32)) for k, v in data["obs"].items()}
    masks = torch.from_numpy(data["masks"])
    actions = torch.from_numpy(data["actions"])
    returns = torch.from_numpy(data["returns"])
    net = conductor.net
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    gen = torch.Generator().manual_seed(seed)
    n = len(actions)
    accuracy = []
    net.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        hits = 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            logits, values = net({k: v[idx] for k, v in obs.items()})
            logits = logits.masked_fill(~masks[idx], -1e9)
            # Huber on the value: returns span tens, and a squared error of
            # that size would drown the imitation signal.
            loss = F.cross_entropy(logits, actions[idx]) + 0.5 * F.smooth_l1_loss(
                values, returns[idx]
            )
            opt.zero_grad()
            torch.autograd.backward(loss)
            opt.step()
            hits += int((logits.argmax(-1) == actions[idx]).sum())
        accuracy.append(hits / n)
    return accuracy
