"""The Conductor: a policy that learns which function to call next.

``Conductor().train("medium")`` trains it with sb3-contrib's
``MaskablePPO`` (the network of ``network.py`` as its policy) in any
environment that speaks the observation protocol (Function Quest by
default, made by gymnasium id: ``envs.py``), optionally warm-started by
imitating the environment's expert; ``decide`` picks a call for one
observation without SB3 in the way; ``choose`` does the same for a real run
(the :class:`~symphony_lab.planning.Policy` protocol); ``evaluate`` plays an
environment's scenarios and sets the result beside its baselines;
``save``/``load`` keep it in one checked file.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv
from torch import Tensor

from symphony_lab.conductor import checkpoint
from symphony_lab.conductor.callbacks import CheckpointEvery, TrainingLog, split_callbacks
from symphony_lab.conductor.envs import EnvSpec, make_env
from symphony_lab.conductor.errors import ConductorError, ConductorFileError
from symphony_lab.conductor.evaluation import Evaluation, evaluate
from symphony_lab.conductor.fast import FastLogits
from symphony_lab.conductor.imitation import imitate_expert
from symphony_lab.conductor.network import ConductorNet, NetworkConfig
from symphony_lab.conductor.sb3_policy import ConductorPolicy
from symphony_lab.planning import (
    LIVE_KEYS,
    LIVE_KIND_KEYS,
    OBSERVATION_VERSION,
    EnvPolicy,
    Observation,
    ObservationSpec,
    Observer,
    Problem,
    State,
)

if TYPE_CHECKING:
    from symphony_lab.stage import Performance, Stage

#: Keys of configs saved before the observation's size became the env's
#: business (the network serves any size); read and dropped.
_LEGACY_CONFIG = ("max_functions", "max_kinds")


@dataclass(frozen=True)
class ConductorConfig:
    """What a Conductor is: its network, the observation it reads, and how
    PPO trains it. Saved with the weights."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    #: Observe each function's relaxed (h_add) cost-to-go.
    cost_to_go: bool = True
    #: Train with the action mask (only legal calls) or without it.
    masked: bool = True
    #: Observe the exact planner's advice (its next call and its plan, on
    #: expected costs, from where the run stands; ``ObservationSpec.plan``),
    #: hidden in ``plan_dropout`` of the training episodes so the policy also
    #: learns to act where the search gives up.
    plan: bool = True
    plan_dropout: float = 0.2
    #: Offer calls that would change nothing (consume nothing, produce only
    #: what is held); off, they are never offered, in training or real runs.
    idle_calls: bool = False
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
    #: Weight of the value loss. The value head shares the network with the
    #: policy and its errors are on the scale of whole episodes' costs, so a
    #: large weight lets the critic's gradients drown the policy's (PPO clips
    #: their sum to one norm); the live tier trains with a small one.
    vf_coef: float = 0.5
    max_episode_steps: int = 64

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def env_options(self, *, solve_optimal: bool = False, training: bool = False) -> dict[str, Any]:
        """What an environment made for this Conductor is given (where its
        constructor takes it); the plan is hidden in some episodes only
        when ``training``."""
        return {
            "plan": self.plan,
            "plan_dropout": self.plan_dropout if training and self.plan else 0.0,
            "masked": self.masked,
            "idle_calls": self.idle_calls,
            "max_steps": self.max_episode_steps,
            "cost_to_go": self.cost_to_go,
            "solve_optimal": solve_optimal,
        }

    @classmethod
    def live(cls, **changes: Any) -> ConductorConfig:
        """The Conductor of the live tier (``function_quest:LiveQuest-v0``),
        with ``changes``: it reads the live arrays and no planner's advice;
        its critic does not train the encoder the policy reads (the
        episodes' luck would drown the policy's gradients); PPO takes small,
        clipped, slow steps (at a learning rate of 1e-4 the held-out cost
        fell for 75k steps, then rose past imitation's; at 3e-5 it falls
        through 200k)."""
        live = cls(
            network=NetworkConfig(live=True, critic_trains_encoder=False),
            plan=False,
            n_steps=256,
            batch_size=256,
            n_epochs=2,
            clip_range=0.05,
            learning_rate=3e-5,
        )
        return replace(live, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConductorConfig:
        data = {k: v for k, v in data.items() if k not in _LEGACY_CONFIG}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConductorFileError(f"unknown config fields {unknown}")
        net = data.get("network", {})
        return cls(**{**data, "network": NetworkConfig(**net)})


class Conductor:
    """A trainable, savable orchestration policy."""

    _fast: tuple[int, FastLogits] | None

    def __init__(self, config: ConductorConfig | None = None, *, seed: int = 0) -> None:
        self.config = config or ConductorConfig()
        self.seed = seed
        with torch.random.fork_rng():  # seeds the weights, not the caller's torch
            torch.manual_seed(seed)
            net = ConductorNet(self.config.network, cost_to_go=self.config.cost_to_go)
        self.net = net
        self.model: MaskablePPO | None = None
        self.num_timesteps = 0
        #: One row per PPO rollout: steps so far, mean episode reward and
        #: length, solve rate of the episodes that ended (see ``TrainingLog``).
        self.history: list[dict[str, float]] = []
        self._optimizer_state: dict[str, Any] | None = None
        # The observer of the problem a real run decides on, made once per run.
        self._observer: Observer | None = None

    @property
    def net(self) -> ConductorNet:
        """The network; ``decide`` reads a copy of its weights, taken again
        whenever they change."""
        return self._net

    @net.setter
    def net(self, net: ConductorNet) -> None:
        self._net = net
        self._params = list(net.parameters())
        self._fast = None

    # ---- environments ----

    def make_env(self, env: EnvSpec = "medium", **options: Any) -> gym.Env[Any, Any]:
        """The environment ``env`` names (a gymnasium id, or levels of
        Function Quest: see ``envs.py``), giving this Conductor's
        observation; ``options`` override the config's env settings."""
        return make_env(env, **(self.config.env_options() | options))

    def _factory(self, env: EnvSpec) -> Callable[[], gym.Env[Any, Any]]:
        # A module-level function, not a closure over self: subprocess
        # vector envs pickle it.
        return functools.partial(make_env, env, **self.config.env_options(training=True))

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
        threads: int | None = 1,
    ) -> Conductor:
        """Trains for ``total_steps`` more environment steps.

        ``env``: a gymnasium id, levels of Function Quest (a tier name, its
        ``train`` pack; ``"split-tier"``; a list of levels), or a function
        making a gymnasium env. ``pretrain="expert"`` first imitates the
        env's ``expert_action()`` (Function Quest's: the exact planner,
        replanning after failures) for ``pretrain_episodes`` episodes.
        ``callbacks``: SB3 callbacks, or
        functions called with each row of ``history`` (the live dashboard
        attaches one). ``checkpoint_every`` steps a checkpoint
        is saved to ``checkpoint_dir``; ``Conductor.load`` of one resumes.
        ``vec_env``: ``"dummy"`` (one process, best when steps are cheap) or
        ``"subproc"``. ``threads``: PyTorch's threads while training (``None``:
        as PyTorch has them, every core by default). One is the default: the
        network is small, so more threads buy little and, beside another busy
        process, cost far more than they buy. Same seed, same machine: same
        weights.
        """
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        if total_steps < 1 or n_envs < 1:
            raise ValueError("total_steps and n_envs must be >= 1")
        if checkpoint_every is not None and checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        if pretrain not in (None, "expert"):
            raise ValueError(f"pretrain must be None or 'expert', not {pretrain!r}")
        if vec_env not in ("dummy", "subproc"):
            raise ValueError(f"vec_env must be 'dummy' or 'subproc', not {vec_env!r}")
        with torch_threads(threads):
            seed = self.seed if seed is None else seed
            make = self._factory(env)
            # One env made here first: a bad spec fails now with its reason, not
            # later in a worker process.
            first = make()
            try:
                self._check_space(first.observation_space)
            except ConductorError:
                first.close()
                raise
            if pretrain is not None:
                imitate_expert(self, first, episodes=pretrain_episodes, seed=seed)
            else:
                first.close()
            vec_cls = DummyVecEnv if vec_env == "dummy" else SubprocVecEnv
            vec = vec_cls([make for _ in range(n_envs)])
            try:
                # Offset by the steps done, so a resumed run plays new episodes.
                vec.seed(seed + self.num_timesteps)
                self._attach(vec, seed, tensorboard_log)
            except BaseException:
                vec.close()
                raise
            assert self.model is not None
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
            self.num_timesteps = self.model.num_timesteps
            return self

    def _check_space(self, space: gym.Space[Any]) -> None:
        """Refuses an env whose observation this network does not read as it
        is: live arrays unread, or read but missing."""
        keys = set(getattr(space, "spaces", {}))
        live = set(LIVE_KEYS) | set(LIVE_KIND_KEYS)
        if self.config.network.live and not live <= keys:
            raise ConductorError(
                f"this Conductor reads a live observation, and the env's lacks "
                f"{sorted(live - keys)}: train it on a live env (function_quest:LiveQuest-v0)"
            )
        if not self.config.network.live and live <= keys:
            raise ConductorError(
                "the env's observation is live (calls in flight, outcomes so far), which this "
                "Conductor would not read: make it with NetworkConfig(live=True)"
            )

    def _attach(self, vec: Any, seed: int, tensorboard_log: Any) -> None:
        """Gives the PPO model these envs; builds it (again) when there is
        none yet or the envs differ in number or observation size, carrying
        the weights and the optimiser state over."""
        if self.model is not None:
            same = (
                self.model.n_envs == vec.num_envs
                and self.model.observation_space == vec.observation_space
            )
            if same:
                self.model.set_env(vec)
                if tensorboard_log is not None:
                    self.model.tensorboard_log = str(tensorboard_log)
                return
            self._optimizer_state = self.model.policy.optimizer.state_dict()
            self.model = None
        c = self.config
        model = MaskablePPO(
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
            vf_coef=c.vf_coef,
            policy_kwargs={"network": c.network.to_dict(), "cost_to_go": c.cost_to_go},
            tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
            seed=seed,
            verbose=0,
            device="cpu",
        )
        policy = model.policy
        assert isinstance(policy, ConductorPolicy)  # made above with that class
        policy.net.load_state_dict(self.net.state_dict())
        if self._optimizer_state is not None:
            try:
                policy.optimizer.load_state_dict(self._optimizer_state)
            except (KeyError, ValueError, TypeError) as e:
                raise ConductorFileError(f"the saved optimiser state does not fit: {e}") from e
            self._optimizer_state = None
        model.num_timesteps = self.num_timesteps
        self.model = model
        self.net = policy.net

    # ---- deciding ----

    def tensors(self, observation: Observation, *, batched: bool = False) -> dict[str, Tensor]:
        """An observation (or a batch, with ``batched``) as float tensors."""
        self._check(observation)
        out = {}
        for key, value in observation.items():
            if key == "cost_to_go" and not self.config.cost_to_go:
                continue
            if key in ("plan_next", "plan_calls") and not self.config.plan:
                continue
            t = torch.from_numpy(np.asarray(value, dtype=np.float32))
            out[key] = t if batched else t.unsqueeze(0)
        return out

    def _check(self, observation: Observation) -> None:
        missing = {"function_mask", "kind_mask", "reads"} - set(observation)
        if missing:
            raise ConductorError(f"not a Conductor observation: it lacks {sorted(missing)}")
        if self.config.cost_to_go and "cost_to_go" not in observation:
            raise ConductorError(
                "this Conductor reads cost_to_go: make the env with cost_to_go=True"
            )
        if self.config.plan and "plan_next" not in observation:
            raise ConductorError(
                "this Conductor reads the planner's advice: make the env with plan=True"
            )

    def decide(self, observation: Observation, mask: npt.NDArray[np.bool_] | None = None) -> int:
        """The call to make: the highest-scoring function the mask allows.
        Runs the numpy copy of the network (``fast.py``) where it applies:
        a decision is a few dozen small products, and numpy dispatches each
        several times faster than PyTorch here."""
        self._check(observation)
        if self.net.attend is not None:
            return self._decide_torch(observation, mask)
        logits = self._fast_logits()(
            observation, cost_to_go=self.config.cost_to_go, plan=self.config.plan
        )
        if mask is None:
            return int(np.argmax(logits))
        allowed = np.asarray(mask, dtype=bool)
        if allowed.shape != logits.shape:
            raise ConductorError(
                f"the mask has shape {allowed.shape}; the observation has "
                f"{len(logits)} function slots"
            )
        logits[~allowed] = -np.inf
        best = int(np.argmax(logits))
        if not allowed[best]:  # every slot is -inf
            raise ConductorError("the mask allows no call")
        return best

    def _fast_logits(self) -> FastLogits:
        """The numpy copy of the weights, taken again when any weight has
        changed (each in-place update bumps a tensor's version counter)."""
        version = sum(p._version for p in self._params)
        if self._fast is None or self._fast[0] != version:
            self._fast = (version, FastLogits(self.net))
        return self._fast[1]

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

    @torch.inference_mode()
    def explain(
        self, observation: Observation, mask: npt.NDArray[np.bool_] | None = None
    ) -> tuple[npt.NDArray[np.float64], float]:
        """Why the next call: the probability the policy gives each function
        slot (zero where the mask forbids; :meth:`decide` takes the highest)
        and the critic's value of the state."""
        with torch.no_grad():
            logits, value = self.net(self.tensors(observation))
        scores = logits[0].double().numpy()
        if mask is not None:
            scores = np.where(np.asarray(mask, dtype=bool), scores, -np.inf)
        if not np.isfinite(scores).any():
            raise ConductorError("the mask allows no call")
        weights = np.exp(scores - scores[np.isfinite(scores)].max())
        probabilities: npt.NDArray[np.float64] = weights / weights.sum()
        return probabilities, float(value.reshape(-1)[0])

    def decide_batch(
        self, observations: Observation, masks: npt.NDArray[np.bool_] | None = None
    ) -> npt.NDArray[np.int64]:
        """``decide`` for a batch: arrays stacked on a first axis."""
        logits, _ = self.net(self.tensors(observations, batched=True))
        if masks is not None:
            logits = logits.masked_fill(
                ~torch.from_numpy(np.asarray(masks, dtype=bool)), -torch.inf
            )
        choices: npt.NDArray[np.int64] = logits.argmax(-1).numpy()
        return choices

    def policy(self) -> EnvPolicy:
        """This Conductor as a policy that plays an env: ``(obs, mask, env) -> call``."""
        return lambda obs, mask, env: self.decide(obs, mask)

    # ---- real runs: the Policy protocol ----

    def choose(self, problem: Problem, state: State) -> int | None:
        """The call to make in ``state`` of ``problem`` (a real run's
        :class:`~symphony_lab.planning.Policy`): the observation is built
        straight from the problem, as Function Quest builds it, and the mask
        allows the legal calls; ``None`` when none is legal."""
        if self.config.network.live:
            raise ConductorError(
                "this Conductor reads a live observation (calls in flight, outcomes so far), "
                "which a real run's Observer does not make: real runs take a Conductor "
                "trained with NetworkConfig(live=False)"
            )
        legal = problem.legal(state)  # a real run never offers a call that changes nothing
        if not legal:
            return None
        observer = self._observer_of(problem)
        mask = np.zeros(observer.spec.max_functions, bool)
        mask[[f for f in range(len(problem)) if legal >> f & 1]] = True
        return self.decide(observer.observe(state), mask)

    def _observer_of(self, problem: Problem) -> Observer:
        """The observer of ``problem``, kept while the run uses that problem."""
        if self._observer is None or self._observer.problem is not problem:
            spec = ObservationSpec.fitting(
                [problem], cost_to_go=self.config.cost_to_go, plan=self.config.plan
            )
            self._observer = Observer(problem, spec)
        return self._observer

    def perform(
        self, goal: str | list[str], inputs: dict[str, Any], stage: Stage, **options: Any
    ) -> Performance:
        """Runs ``goal`` on the Stage's extensions, this Conductor choosing
        each call (``symphony_lab.stage.perform``); options go to ``Performer``."""
        return stage.perform(goal, inputs, policy=self, **options)

    # ---- evaluating ----

    def evaluate(
        self,
        env: EnvSpec = "test-medium",
        *,
        episodes: int | None = None,
        seed: int = 0,
        baselines: bool = True,
    ) -> Evaluation:
        """Plays each of the env's scenarios once (Function Quest: each level
        of a pack; ``episodes`` caps the count) and, with ``baselines``, the
        env's baselines on the same scenarios and seeds."""
        if episodes is not None and episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {episodes}")
        return evaluate(self, env, episodes=episodes, seed=seed, baselines=baselines)

    # ---- saving ----

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes one file: weights, config, versions and the optimiser state
        (so training resumes), atomically."""
        optimizer = None if self.model is None else self.model.policy.optimizer.state_dict()
        return checkpoint.write(
            path,
            {
                "config": self.config.to_dict(),
                "observation_version": OBSERVATION_VERSION,
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
        data = checkpoint.read(path)
        # What the network reads is the observation; which game made the
        # levels it learnt on does not matter to it.
        if data.get("observation_version") != OBSERVATION_VERSION:
            raise ConductorFileError(
                f"{path}: saved with observation version {data.get('observation_version')}, "
                f"this symphony-lab uses {OBSERVATION_VERSION}"
            )
        try:
            config = ConductorConfig.from_dict(data["config"])
            conductor = cls(config, seed=int(data.get("seed", 0)))
            conductor.net.load_state_dict(data["weights"])
            conductor.num_timesteps = int(data.get("num_timesteps") or 0)
            conductor.history = [dict(row) for row in data.get("history") or []]
            optimizer = data.get("optimizer")
            if optimizer is not None and not (
                isinstance(optimizer, dict) and {"state", "param_groups"} <= set(optimizer)
            ):
                raise ValueError("the optimiser state is malformed")
        except ConductorFileError as e:
            raise ConductorFileError(f"{path}: {e}") from e
        except (KeyError, TypeError, ValueError, RuntimeError, AssertionError) as e:
            raise ConductorFileError(
                f"{path}: does not hold a Conductor of this version: {e}"
            ) from e
        conductor._optimizer_state = optimizer
        return conductor


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """PyTorch's threads set to ``n`` for the block (``None``: left alone),
    then as they were: the setting is the process's, and the caller's own."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
