"""The Conductor's network: a set encoder over functions and artifact kinds.

A level is a bipartite graph: functions read, consume and produce kinds. The
network embeds each kind from its flags (held, goal, bonus goal), each
function from its numbers (cost, failure, warm-up, warm) and the kinds it
touches, passes messages between the two sets, lets functions attend to one
another, and scores each function with one shared head. Every step is per
element or a sum over a set, so the output follows any reordering of the
functions and ignores any reordering of the kinds, and one set of weights
serves levels of any size, larger than any seen in training included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from symphony_lab.planning import LIVE_KEYS, LIVE_KIND_KEYS

#: Per-function numbers fed to the encoder (see ``_function_inputs``).
FUNCTION_INPUTS = 10
#: Per-kind flags: held, goal, bonus goal, present, missing goal.
KIND_INPUTS = 6


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the network; saved with its weights."""

    width: int = 32
    rounds: int = 2
    heads: int = 4
    #: Self-attention among functions after message passing: more context,
    #: but a decision then runs in PyTorch, several times slower.
    attention: bool = False
    #: Read a live observation's arrays (``LIVE_KEYS``, ``LIVE_KIND_KEYS``):
    #: what is in flight, what calls did so far, the price of a call's time.
    live: bool = False
    #: Whether the value loss trains the encoder the policy reads, or only
    #: the value head. Where returns are noisy and large (the live tier: the
    #: luck of whole episodes), the critic's gradients would otherwise drown
    #: the policy's and PPO unlearns what imitation taught.
    critic_trains_encoder: bool = True

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)


class ConductorNet(nn.Module):
    """Observation tensors in, per-function logits and a value out."""

    def __init__(self, config: NetworkConfig | None = None, *, cost_to_go: bool = True) -> None:
        super().__init__()
        self.config = c = config or NetworkConfig()
        #: Read the observation's ``cost_to_go`` (else zeros in its place).
        self.cost_to_go = cost_to_go
        d = c.width
        self.kind_in = _mlp(KIND_INPUTS + (len(LIVE_KIND_KEYS) if c.live else 0), d)
        self.function_in = _mlp(FUNCTION_INPUTS + (len(LIVE_KEYS) if c.live else 0), d)
        # Per round: a projection of kinds for each role they play for a
        # function (read, consumed, produced), and the two updates.
        self.roles = nn.ModuleList(nn.Linear(d, 3 * d, bias=False) for _ in range(c.rounds))
        self.function_update = nn.ModuleList(_mlp(2 * d, d) for _ in range(c.rounds))
        self.kind_update = nn.ModuleList(_mlp(3 * d, d) for _ in range(c.rounds))
        self.attend = (
            nn.TransformerEncoderLayer(
                d, c.heads, dim_feedforward=2 * d, dropout=0.0, batch_first=True
            )
            if c.attention
            else None
        )
        self.score = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))
        self.value = nn.Sequential(nn.Linear(2 * d + 1, d), nn.ReLU(), nn.Linear(d, 1))

    def forward(self, obs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``obs``: the observation's arrays as float tensors with a batch
        dimension. Returns logits ``[B, F]`` (masking them is the caller's
        job) and values ``[B]``."""
        fmask, kmask = obs["function_mask"], obs["kind_mask"]
        b, n_k, d = fmask.shape[0], kmask.shape[1], self.config.width
        # One incidence matrix for the three roles: [B, F, 3K].
        inc = torch.cat([obs["reads"], obs["consumes"], obs["produces"]], -1)
        inc_t = inc.transpose(1, 2)
        fm, km = fmask.unsqueeze(-1), kmask.unsqueeze(-1)
        kind_inputs = _kind_inputs(obs)
        if self.config.live:
            _check_live(obs)
            kind_inputs = torch.cat([kind_inputs, _live_kind_inputs(obs)], -1)
        kinds = self.kind_in(kind_inputs) * km
        inputs = _function_inputs(obs, self.cost_to_go)
        if self.config.live:
            inputs = torch.cat([inputs, _live_inputs(obs)], -1)
        funcs = self.function_in(inputs) * fm
        for r in range(self.config.rounds):
            # Functions gather the kinds they read, consume and produce ...
            roles = self.roles[r](kinds).view(b, n_k, 3, d).transpose(1, 2).reshape(b, 3 * n_k, d)
            funcs = (funcs + self.function_update[r](torch.cat([funcs, inc @ roles], -1))) * fm
            # ... and kinds gather who reads, consumes and produces them.
            back = (inc_t @ funcs).view(b, 3, n_k, d).transpose(1, 2).reshape(b, n_k, 3 * d)
            kinds = (kinds + self.kind_update[r](back)) * km
        if self.attend is not None:
            funcs = self.attend(funcs, src_key_padding_mask=fmask < 0.5) * fm
        logits = self.score(funcs).squeeze(-1)
        pooled = torch.cat(
            [
                funcs.sum(1) / fmask.sum(-1, keepdim=True).clamp(min=1.0),
                kinds.sum(1) / kmask.sum(-1, keepdim=True).clamp(min=1.0),
                torch.log1p(obs["budget_left"]),
            ],
            -1,
        )
        if not self.config.critic_trains_encoder:
            pooled = pooled.detach()
        return logits, self.value(pooled).squeeze(-1)


def _mlp(n_in: int, d: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, d), nn.ReLU(), nn.Linear(d, d))


def _kind_inputs(obs: dict[str, Tensor]) -> Tensor:
    held, goal = obs["held"], obs["goal"]
    missing = goal * (1 - held)
    reward = obs.get("reward")
    reward = torch.log1p(reward) if reward is not None else torch.zeros_like(held)
    return torch.stack([held, goal, obs["bonus_goal"], obs["kind_mask"], missing, reward], -1)


def _function_inputs(obs: dict[str, Tensor], use_to_go: bool) -> Tensor:
    """Costs on a log scale and against the budget left, so levels of any
    price range look alike; the relaxed cost-to-go and the planner's advice
    when observed (zeros otherwise)."""
    cost, warmup, warm = obs["cost"], obs["warmup"], obs["warm"]
    budget = obs["budget_left"]  # [B, 1]
    price = cost + warmup * (1 - warm)
    to_go = obs.get("cost_to_go") if use_to_go else None
    zero = torch.zeros_like(cost)
    to_go = torch.log1p(to_go) if to_go is not None else zero
    return torch.stack(
        [
            torch.log1p(cost),
            torch.log1p(warmup),
            obs["failure"],
            warm,
            obs["function_mask"],
            torch.log1p(price),
            (price / (budget + 1.0)).clamp(max=10.0),
            to_go,
            obs.get("plan_next", zero),
            obs.get("plan_calls", zero),
        ],
        -1,
    )


def _check_live(obs: dict[str, Tensor]) -> None:
    missing = [k for k in (*LIVE_KEYS, *LIVE_KIND_KEYS) if k not in obs]
    if missing:
        raise KeyError(f"this network reads the live tier's {missing}: not in the observation")


def _live_kind_inputs(obs: dict[str, Tensor]) -> Tensor:
    return torch.stack([torch.log1p(obs["read_tried"]), torch.log1p(obs["read_failed"])], -1)


def _live_inputs(obs: dict[str, Tensor]) -> Tensor:
    """Counts and prices on a log scale; flags as they are."""
    return torch.stack(
        [
            obs["running"],
            torch.log1p(obs["tried"]),
            torch.log1p(obs["failed"]),
            torch.log1p(obs["time_price"]),
            obs["wait"],
        ],
        -1,
    )
