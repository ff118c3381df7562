"""Warm start: imitate the exact solver before reinforcement learning.

The exact planner (replanning after every call, on expected costs) plays the
training levels;
the network learns its calls by masked cross-entropy and the discounted
returns by regression, so PPO starts from a policy that already wins and a
critic that already knows what winning is worth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

if TYPE_CHECKING:
    from function_quest.level import Level

    from symphony_lab.conductor.conductor import Conductor


def solver_demonstrations(
    conductor: Conductor, levels: Sequence[Level], *, episodes: int, seed: int = 0
) -> dict[str, Any]:
    """Observations, masks, the solver's calls and discounted returns, from
    ``episodes`` episodes cycling over ``levels``."""
    from function_quest.baselines import ExactReplanningPolicy

    env = conductor.make_env(levels, solve_optimal=False)
    # Planning on expected costs: the best policy wherever no function both
    # warms up and fails (every generated level), unlike plain replanning.
    expert = ExactReplanningPolicy(expected_costs=True)
    obs_rows: list[dict[str, np.ndarray]] = []
    masks, actions, returns = [], [], []
    gamma = conductor.config.gamma
    for episode in range(episodes):
        level = levels[episode % len(levels)]
        obs, _ = env.reset(seed=seed + episode, options={"level": level})
        rewards = []
        done = False
        while not done:
            mask = env.action_masks()
            action = expert(obs, mask, env)
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
    stacked = {k: np.stack([o[k] for o in obs_rows]) for k in obs_rows[0]}
    return {
        "obs": stacked,
        "masks": np.stack(masks),
        "actions": np.array(actions),
        "returns": np.array(returns, np.float32),
    }


def imitate_solver(
    conductor: Conductor,
    levels: Sequence[Level],
    *,
    episodes: int = 2000,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Trains ``conductor.net`` on the solver's demonstrations; returns the
    accuracy on them after each epoch."""
    data = solver_demonstrations(conductor, levels, episodes=episodes, seed=seed)
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
            loss.backward()
            opt.step()
            hits += int((logits.argmax(-1) == actions[idx]).sum())
        accuracy.append(hits / n)
    return accuracy
