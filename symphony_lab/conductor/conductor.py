"""The Conductor: a policy that learns which function to call next.

``Conductor().train("medium")`` trains it in Function Quest with
sb3-contrib's ``MaskablePPO`` (the network of ``network.py`` as its policy),
optionally warm-started by imitating the exact solver; ``decide`` picks a
call for one observation without SB3 in the way; ``evaluate`` plays packs of
levels and sets the result beside the baselines; ``save``/``load`` keep it
in one checked file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from symphony_lab.conductor import checkpoint
from symphony_lab.conductor.fast import FastLogits
from symphony_lab.conductor.network import ConductorNet, NetworkConfig
from symphony_lab.errors import ConductorError, ConductorFileError
from symphony_lab.observation import OBSERVATION_VERSION

if TYPE_CHECKING:
    from function_quest.level import Level
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback

    from symphony_lab.conductor.evaluation import Evaluation

Observation = dict[str, npt.NDArray[Any]]
EnvSpec = str | Sequence["Level"] | Callable[[], gym.Env]


@dataclass(frozen=True)
class ConductorConfig:
    """What a Conductor is: its network, the observation it reads, and how
    PPO trains it. Saved with the weights."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    max_functions: int = 32
    max_kinds: int = 32
    #: Observe each function's relaxed (h_add) cost-to-go.
    cost_to_go: bool = True
    #: Train with the action mask (only legal calls) or without it.
    masked: bool = True
    # PPO fine-tunes what imitation taught: small steps, no entropy bonus.
    # Undiscounted (gamma = 1): the objective is the episode's total cost,
    # and discounting would favour putting costs off over avoiding them.
    learning_rate: float = 1e-4
    n_steps: int = 128
    batch_size: int = 256
    n_epochs: int = 4
    gamma: float = 1.0
    gae_lambda: float = 0.95
    ent_coef: float = 0.0
    clip_range: float = 0.1
    max_episode_steps: int = 64

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConductorConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConductorFileError(f"unknown config fields {unknown}")
        net = data.get("network", {})
        return cls(**{**data, "network": NetworkConfig(**net)})


class Conductor:
    """A trainable, savable orchestration policy."""

    def __init__(self, config: ConductorConfig | None = None, *, seed: int = 0) -> None:
        self.config = config or ConductorConfig()
        self.seed = seed
        torch.manual_seed(seed)
        self.net = ConductorNet(self.config.network)
        self.model: MaskablePPO | None = None
        self.num_timesteps = 0
        #: One row per PPO rollout: steps so far, mean episode reward and
        #: length, solve rate of the episodes that ended (see ``TrainingLog``).
        self.history: list[dict[str, float]] = []
        self._optimizer_state: dict[str, Any] | None = None
        self._fast: FastLogits | None = None

    # ---- environments ----

    def make_env(self, levels: Sequence[Level], **kwargs: Any) -> gym.Env:
        """A Function Quest env over ``levels`` that gives this Conductor's
        observation; sized up for levels larger than the config's."""
        from function_quest.env import FunctionQuestEnv

        c = self.config
        return FunctionQuestEnv(
            list(levels),
            masked=c.masked,
            max_functions=max([c.max_functions, *(len(lv.functions) for lv in levels)]),
            max_kinds=max([c.max_kinds, *(len(lv.kinds) for lv in levels)]),
            max_steps=c.max_episode_steps,
            cost_to_go=c.cost_to_go,
            **kwargs,
        )

    def _factory(self, env: EnvSpec) -> tuple[Callable[[], gym.Env], list[Level] | None]:
        if callable(env) and not isinstance(env, str | Sequence):
            return env, None
        levels = resolve_levels(env)
        return (lambda: self.make_env(levels, solve_optimal=False)), levels

    # ---- training ----

    def train(
        self,
        env: EnvSpec = "medium",
        *,
        total_steps: int = 100_000,
        n_envs: int = 4,
        seed: int | None = None,
        callbacks: Sequence[BaseCallback | Callable[[dict[str, float]], object]] = (),
        pretrain: str | None = None,
        pretrain_episodes: int = 2000,
        progress_bar: bool = False,
        tensorboard_log: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        vec_env: str = "dummy",
    ) -> Conductor:
        """Trains for ``total_steps`` more environment steps.

        ``env``: a tier name (its ``train`` pack), ``"split-tier"``, a list of
        levels, or a function making a gymnasium env. ``pretrain="solver"``
        first imitates the exact solver (replanning after failures) on up to
        ``pretrain_episodes`` episodes. ``callbacks``: SB3 callbacks, or
        functions called with each row of ``history`` (the live dashboard
        attaches one). ``checkpoint_every`` steps a checkpoint
        is saved to ``checkpoint_dir``; ``Conductor.load`` of one resumes.
        ``vec_env``: ``"dummy"`` (one process, best when steps are cheap) or
        ``"subproc"``. Same seed, same machine: same weights.
        """
        from sb3_contrib import MaskablePPO
        from stable_baselines3.common.callbacks import CallbackList
        from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

        from symphony_lab.conductor.callbacks import CheckpointEvery, TrainingLog, split_callbacks
        from symphony_lab.conductor.sb3_policy import ConductorPolicy

        if total_steps < 1 or n_envs < 1:
            raise ValueError("total_steps and n_envs must be >= 1")
        if pretrain not in (None, "solver"):
            raise ValueError(f"pretrain must be None or 'solver', not {pretrain!r}")
        if vec_env not in ("dummy", "subproc"):
            raise ValueError(f"vec_env must be 'dummy' or 'subproc', not {vec_env!r}")
        seed = self.seed if seed is None else seed
        make, levels = self._factory(env)
        if pretrain == "solver":
            if levels is None:
                raise ConductorError("pretrain='solver' needs Function Quest levels, not an env")
            from symphony_lab.conductor.imitation import imitate_solver

            imitate_solver(self, levels, episodes=pretrain_episodes, seed=seed)
            self.refresh()
        vec_cls = DummyVecEnv if vec_env == "dummy" else SubprocVecEnv
        vec = vec_cls([make for _ in range(n_envs)])
        vec.seed(seed)
        c = self.config
        if self.model is None:
            self.model = MaskablePPO(
                ConductorPolicy,
                vec,
                learning_rate=c.learning_rate,
                n_steps=c.n_steps,
                batch_size=c.batch_size,
                n_epochs=c.n_epochs,
                gamma=c.gamma,
                gae_lambda=c.gae_lambda,
                ent_coef=c.ent_coef,
                clip_range=c.clip_range,
                policy_kwargs={"network": c.network.to_dict()},
                tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
                seed=seed,
                verbose=0,
                device="cpu",
            )
            policy = self.model.policy
            policy.net.load_state_dict(self.net.state_dict())  # type: ignore[union-attr]
            self.net = policy.net  # type: ignore[assignment,union-attr]
            if self._optimizer_state is not None:
                policy.optimizer.load_state_dict(self._optimizer_state)
                self._optimizer_state = None
            self.model.num_timesteps = self.num_timesteps
        else:
            self.model.set_env(vec)
            if tensorboard_log is not None:
                self.model.tensorboard_log = str(tensorboard_log)
        sb3_callbacks, listeners = split_callbacks(tuple(callbacks))
        own: list[BaseCallback] = [TrainingLog(self, listeners)]
        if checkpoint_every:
            folder = Path(checkpoint_dir or "checkpoints")
            own.append(CheckpointEvery(self, checkpoint_every, folder))
        try:
            self.model.learn(
                total_steps,
                callback=CallbackList([*own, *sb3_callbacks]),
                progress_bar=progress_bar,
                reset_num_timesteps=False,
            )
        finally:
            vec.close()
            self.refresh()
        self.num_timesteps = self.model.num_timesteps
        return self

    # ---- deciding ----

    def tensors(self, observation: Observation, *, batched: bool = False) -> dict[str, Tensor]:
        """An observation (or a batch, with ``batched``) as float tensors."""
        out = {}
        for key, value in observation.items():
            t = torch.from_numpy(np.asarray(value, dtype=np.float32))
            out[key] = t if batched else t.unsqueeze(0)
        missing = {"function_mask", "kind_mask", "reads"} - set(out)
        if missing:
            raise ConductorError(f"not a Conductor observation: it lacks {sorted(missing)}")
        if self.config.cost_to_go and "cost_to_go" not in out:
            raise ConductorError(
                "this Conductor reads cost_to_go: make the env with cost_to_go=True"
            )
        return out

    def decide(self, observation: Observation, mask: npt.NDArray[np.bool_] | None = None) -> int:
        """The call to make: the highest-scoring function the mask allows.
        Runs the numpy copy of the network (``fast.py``) where it applies:
        a decision is a few dozen small products, and numpy dispatches each
        several times faster than PyTorch here."""
        if self.config.cost_to_go and "cost_to_go" not in observation:
            raise ConductorError(
                "this Conductor reads cost_to_go: make the env with cost_to_go=True"
            )
        if self.net.attend is not None:
            return self._decide_torch(observation, mask)
        if self._fast is None:
            self._fast = FastLogits(self.net)
        logits = self._fast(observation)
        if mask is not None:
            allowed = np.asarray(mask, dtype=bool)[: len(logits)]
            if not allowed.any():
                raise ConductorError("the mask allows no call")
            logits = np.where(allowed, logits, -np.inf)
        return int(np.argmax(logits))

    @torch.inference_mode()
    def _decide_torch(self, observation: Observation, mask: npt.NDArray[np.bool_] | None) -> int:
        logits, _ = self.net(self.tensors(observation))
        logits = logits[0]
        if mask is not None:
            allowed = torch.from_numpy(np.asarray(mask, dtype=bool))
            if not bool(allowed.any()):
                raise ConductorError("the mask allows no call")
            logits = logits.masked_fill(~allowed, -torch.inf)
        return int(logits.argmax())

    def refresh(self) -> None:
        """Drops the copy of the weights ``decide`` reads; training, loading
        and imitation call it, and so should code that edits the weights."""
        self._fast = None

    @torch.inference_mode()
    def decide_batch(
        self, observations: Observation, masks: npt.NDArray[np.bool_] | None = None
    ) -> npt.NDArray[np.int64]:
        """``decide`` for a batch: arrays stacked on a first axis."""
        logits, _ = self.net(self.tensors(observations, batched=True))
        if masks is not None:
            logits = logits.masked_fill(
                ~torch.from_numpy(np.asarray(masks, dtype=bool)), -torch.inf
            )
        return logits.argmax(-1).numpy()

    def policy(self) -> Callable[[Observation, npt.NDArray[np.bool_], Any], int]:
        """This Conductor as a baseline-style policy ``(obs, mask, env) -> call``."""
        return lambda obs, mask, env: self.decide(obs, mask)

    # ---- evaluating ----

    def evaluate(
        self,
        levels: str | Sequence[Level] = "test-medium",
        *,
        episodes: int | None = None,
        seed: int = 0,
        baselines: bool = True,
    ) -> Evaluation:
        """Plays each level once (``episodes`` caps the count) and, with
        ``baselines``, the baselines on the same levels and seeds."""
        from symphony_lab.conductor.evaluation import evaluate

        chosen = resolve_levels(levels)
        if episodes is not None:
            chosen = chosen[:episodes]
        return evaluate(self, chosen, seed=seed, baselines=baselines)

    # ---- saving ----

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes one file: weights, config, versions and the optimiser state
        (so training resumes), atomically."""
        from function_quest.level import LEVEL_SCHEMA_VERSION

        optimizer = None if self.model is None else self.model.policy.optimizer.state_dict()
        return checkpoint.write(
            path,
            {
                "config": self.config.to_dict(),
                "observation_version": OBSERVATION_VERSION,
                "level_schema_version": LEVEL_SCHEMA_VERSION,
                "seed": self.seed,
                "num_timesteps": self.num_timesteps,
                "weights": self.net.state_dict(),
                "optimizer": optimizer or self._optimizer_state,
                "history": self.history,
                "saved_at": time.time(),
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Conductor:
        """A saved Conductor; ``ConductorFileError`` names what is wrong with
        a missing, truncated, corrupt or incompatible file."""
        from function_quest.level import LEVEL_SCHEMA_VERSION

        data = checkpoint.read(path)
        for key, ours in (
            ("observation_version", OBSERVATION_VERSION),
            ("level_schema_version", LEVEL_SCHEMA_VERSION),
        ):
            if data.get(key) != ours:
                raise ConductorFileError(
                    f"{path}: saved with {key.replace('_', ' ')} {data.get(key)}, "
                    f"this symphony-lab uses {ours}"
                )
        try:
            config = ConductorConfig.from_dict(data["config"])
            conductor = cls(config, seed=int(data.get("seed", 0)))
            conductor.net.load_state_dict(data["weights"])
        except (KeyError, TypeError, RuntimeError) as e:
            raise ConductorFileError(
                f"{path}: does not hold a Conductor of this version: {e}"
            ) from e
        conductor.num_timesteps = int(data.get("num_timesteps", 0))
        conductor.history = list(data.get("history") or [])
        conductor._optimizer_state = data.get("optimizer")
        return conductor

    def with_config(self, **changes: Any) -> Conductor:
        """A new, untrained Conductor whose config differs in ``changes``."""
        return Conductor(replace(self.config, **changes), seed=self.seed)


def resolve_levels(spec: str | Sequence[Level]) -> list[Level]:
    """A tier (its ``train`` pack), ``"split-tier"``, a shipped level's name,
    or levels as they are."""
    if not isinstance(spec, str):
        levels = list(spec)
        if not levels:
            raise ConductorError("no levels given")
        return levels
    import function_quest as fq
    from function_quest.generator import TIERS
    from function_quest.packs import SPLITS, load_pack

    split, _, tier = spec.rpartition("-")
    if tier in TIERS and split in ("", *SPLITS):
        return load_pack(split or "train", tier)
    if spec in fq.LEVELS:
        return [fq.load(spec)]
    raise ConductorError(
        f"unknown environment {spec!r}: expected a tier ({', '.join(TIERS)}), "
        f"'split-tier' with split in {list(SPLITS)}, or a level in {list(fq.LEVELS)}"
    )
