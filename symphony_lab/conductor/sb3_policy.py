"""The Conductor's network inside sb3-contrib's ``MaskablePPO``.

SB3's actor-critic maps features through an MLP to a flat action head. Here
the features extractor is the whole ``ConductorNet`` and emits its logits
and value side by side; the MLP is the identity and the heads slice them
out, so the scores stay one shared head per function.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor, nn

from symphony_lab.conductor.network import ConductorNet, NetworkConfig


class ConductorFeatures(BaseFeaturesExtractor):
    """``ConductorNet`` as a features extractor: ``[logits | value]``."""

    def __init__(
        self, observation_space: gym.spaces.Dict, network: dict[str, Any], cost_to_go: bool
    ) -> None:
        shape = observation_space["function_mask"].shape
        if shape is None:
            raise ValueError("the observation's function_mask has no shape")
        n_functions = shape[0]
        super().__init__(observation_space, features_dim=n_functions + 1)
        self.net = ConductorNet(NetworkConfig(**network), cost_to_go=cost_to_go)

    def forward(self, obs: dict[str, Tensor]) -> Tensor:
        logits, value = self.net(obs)
        return torch.cat([logits, value.unsqueeze(-1)], -1)


class _Slice(nn.Module):
    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.start : self.stop]


class ConductorPolicy(MaskableActorCriticPolicy):
    """``MaskablePPO("...", policy=ConductorPolicy, policy_kwargs={"network": {...}})``."""

    def __init__(
        self,
        *args: Any,
        network: dict[str, Any] | None = None,
        cost_to_go: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs["features_extractor_class"] = ConductorFeatures
        kwargs["features_extractor_kwargs"] = {"network": network or {}, "cost_to_go": cost_to_go}
        kwargs["net_arch"] = []  # the MLP between features and heads is the identity
        kwargs.setdefault("ortho_init", False)  # keep the network's own initialisation
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        n = int(self.action_space.n)  # type: ignore[attr-defined]  # a Discrete space
        self.action_net = _Slice(0, n)
        # SB3 declares value_net an nn.Linear; any module from latents to the value serves.
        self.value_net = _Slice(n, n + 1)  # type: ignore[assignment]
        # Rebuilt so that it holds exactly the parameters now in use. SB3 types
        # the class as the Optimizer base, which takes no lr (Adam does).
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(),
            lr=lr_schedule(1),
            **self.optimizer_kwargs,
        )

    @property
    def net(self) -> ConductorNet:
        extractor = self.features_extractor
        assert isinstance(extractor, ConductorFeatures)  # set as the class in __init__
        return extractor.net
