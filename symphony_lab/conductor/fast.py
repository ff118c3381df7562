"""``ConductorNet``'s logits for one observation, in numpy.

A decision is some twenty small matrix products. PyTorch spends ~4 µs
dispatching each operator on this CPU whatever its size, numpy under 1 µs,
so one decision runs here, on weights copied from the network, on the
level's real functions and kinds only (padding contributes nothing). A test
holds this forward equal to the network's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from symphony_lab.conductor.errors import ConductorError
from symphony_lab.conductor.network import ConductorNet
from symphony_lab.planning import LIVE_KEYS, LIVE_KIND_KEYS

Array = npt.NDArray[np.floating[Any]]


class FastLogits:
    """A frozen copy of a network's weights, and its forward to logits."""

    def __init__(self, net: ConductorNet) -> None:
        if net.attend is not None:
            raise ValueError("the numpy forward covers networks without attention")
        w = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
        self.width = net.config.width
        self.live = net.config.live
        self.rounds = net.config.rounds

        def mlp(prefix: str) -> tuple[Array, Array, Array, Array]:
            return (w[f"{prefix}.0.weight"].T.copy(), w[f"{prefix}.0.bias"],
                    w[f"{prefix}.2.weight"].T.copy(), w[f"{prefix}.2.bias"])  # fmt: skip

        self.kind_in = mlp("kind_in")
        self.function_in = mlp("function_in")
        d = self.width
        # Folded per round: the role projection into the first layer of the
        # function update, and the kind update's first layer split by role,
        # so that no [F, 2d] or [K, 3d] concatenation is ever built.
        self.gather: list[tuple[Array, Array, Array]] = []
        self.function_out: list[tuple[Array, Array]] = []
        self.spread: list[tuple[Array, Array]] = []
        self.kind_out: list[tuple[Array, Array]] = []
        for r in range(self.rounds):
            roles = w[f"roles.{r}.weight"].T  # [d, 3d]
            w1, b1, w2, b2 = mlp(f"function_update.{r}")  # w1: [2d, d]
            own, gathered = w1[:d], w1[d:]
            folded = np.concatenate([roles[:, i * d : (i + 1) * d] @ gathered for i in range(3)], 1)
            self.gather.append((own.copy(), folded.copy(), b1))
            self.function_out.append((w2, b2))
            k1, kb1, k2, kb2 = mlp(f"kind_update.{r}")  # k1: [3d, d], rows by role
            self.spread.append(
                (np.concatenate([k1[i * d : (i + 1) * d] for i in range(3)], 1), kb1)
            )
            self.kind_out.append((k2, kb2))
        self.score = mlp("score")

    def __call__(self, obs: dict[str, Any], *, cost_to_go: bool = True, plan: bool = True) -> Array:
        """Logits over every function slot of one observation, ``-inf`` at
        padding. ``cost_to_go=False`` and ``plan=False`` ignore those
        features if present."""
        fmask, kmask = np.asarray(obs["function_mask"]), np.asarray(obs["kind_mask"])
        if fmask.ndim != 1 or np.asarray(obs["reads"]).ndim != 2:
            raise ConductorError("decide takes one observation; decide_batch takes a batch")
        n_f, n_k = int(np.count_nonzero(fmask)), int(np.count_nonzero(kmask))
        if fmask[:n_f].all() and kmask[:n_k].all():
            # Padding at the end, as the env makes it: slices are views.
            fs: Any = slice(0, n_f)
            ks: Any = slice(0, n_k)
            grid: Any = (fs, ks)
        else:
            fs, ks = np.flatnonzero(fmask), np.flatnonzero(kmask)
            grid = np.ix_(fs, ks)
        inc = np.concatenate(
            [np.asarray(obs[k])[grid] for k in ("reads", "consumes", "produces")], axis=1
        ).astype(np.float32)  # [F, 3K]
        # Inputs written column by column into one array: cheaper than
        # stacking mixed-type columns.
        held = np.asarray(obs["held"])[ks]
        goal = np.asarray(obs["goal"])[ks]
        x = np.empty((held.shape[0], 6 + (len(LIVE_KIND_KEYS) if self.live else 0)), np.float32)
        x[:, 0] = held
        x[:, 1] = goal
        x[:, 2] = np.asarray(obs["bonus_goal"])[ks]
        x[:, 3] = kmask[ks]
        x[:, 4] = goal * (1 - x[:, 0])
        reward = obs.get("reward")
        x[:, 5] = np.log1p(np.asarray(reward)[ks]) if reward is not None else 0.0
        if self.live:
            x[:, 6] = np.log1p(np.asarray(obs["read_tried"])[ks])
            x[:, 7] = np.log1p(np.asarray(obs["read_failed"])[ks])
        kinds = _mlp(x, self.kind_in)
        cost, warmup = np.asarray(obs["cost"])[fs], np.asarray(obs["warmup"])[fs]
        budget = float(np.asarray(obs["budget_left"]).reshape(-1)[0])
        to_go = obs.get("cost_to_go") if cost_to_go else None
        inputs = np.empty((cost.shape[0], 10 + (len(LIVE_KEYS) if self.live else 0)), np.float32)
        inputs[:, 3] = np.asarray(obs["warm"])[fs]
        price = cost + warmup * (1 - inputs[:, 3])
        inputs[:, 0] = np.log1p(cost)
        inputs[:, 1] = np.log1p(warmup)
        inputs[:, 2] = np.asarray(obs["failure"])[fs]
        inputs[:, 4] = fmask[fs]
        inputs[:, 5] = np.log1p(price)
        inputs[:, 6] = np.minimum(price / (budget + 1.0), 10.0)
        inputs[:, 7] = np.log1p(np.asarray(to_go)[fs]) if to_go is not None else 0.0
        for col, key in ((8, "plan_next"), (9, "plan_calls")):
            advice = obs.get(key) if plan else None
            inputs[:, col] = np.asarray(advice)[fs] if advice is not None else 0.0
        if self.live:
            inputs[:, 10] = np.asarray(obs["running"])[fs]
            inputs[:, 11] = np.log1p(np.asarray(obs["tried"])[fs])
            inputs[:, 12] = np.log1p(np.asarray(obs["failed"])[fs])
            inputs[:, 13] = np.log1p(np.asarray(obs["time_price"])[fs])
            inputs[:, 14] = np.asarray(obs["wait"])[fs]
        funcs = _mlp(inputs, self.function_in)
        # inc^T with the roles side by side: [K, 3F], [k, i*F + f] = inc[f, i*K + k].
        inc_t = inc.reshape(n_f, 3, n_k).transpose(2, 1, 0).reshape(n_k, 3 * n_f)
        for r in range(self.rounds):
            own, folded, b1 = self.gather[r]
            hidden = np.maximum(funcs @ own + inc @ _stack_roles(kinds @ folded) + b1, 0.0)
            w2, b2 = self.function_out[r]
            funcs = funcs + hidden @ w2 + b2
            if r + 1 < self.rounds:  # the last kind update feeds only the value
                spread, kb1 = self.spread[r]
                k2, kb2 = self.kind_out[r]
                hidden = np.maximum(inc_t @ _stack_roles(funcs @ spread) + kb1, 0.0)
                kinds = kinds + hidden @ k2 + kb2
        out = np.full(len(fmask), -np.inf, np.float32)
        out[fs] = _mlp(funcs, self.score)[:, 0]
        return out


def _stack_roles(x: Array) -> Array:
    """``[n, 3d]`` with a block per role -> ``[3n, d]``, role-major."""
    n, d = x.shape[0], x.shape[1] // 3
    return x.reshape(n, 3, d).transpose(1, 0, 2).reshape(3 * n, d)


def _mlp(x: Array, layers: tuple[Array, Array, Array, Array]) -> Array:
    w1, b1, w2, b2 = layers
    out: Array = np.maximum(x @ w1 + b1, 0.0) @ w2 + b2
    return out
