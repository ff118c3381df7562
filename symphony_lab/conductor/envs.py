"""Environments the Conductor trains and is evaluated in, made the gymnasium
way: by id.

``"my_pkg:MyEnv-v0"`` (or an id registered already) is made with
``gymnasium.make``; anything else names levels of the default environment,
Function Quest (``"medium"``, ``"test-hard"``, a list of levels), which
``function_quest`` resolves itself. The Conductor never imports a game.

An env made by id is given the Conductor's settings (``masked``,
``max_steps``, ``cost_to_go``, ``solve_optimal``) where its constructor takes
them, so a researcher's env opts in by accepting the same keywords.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from symphony_lab.conductor.errors import ConductorError
from symphony_lab.planning import Level

#: The environment of a level spec: Function Quest, registered when imported.
DEFAULT_ENV = "function_quest:FunctionQuest-v0"

#: What may name an environment: an id, levels of the default environment
#: (a pack or tier name, or a list of levels), or a function that makes one.
EnvSpec = str | Sequence[Level] | Callable[[], gym.Env[Any, Any]]


def is_env_id(spec: str) -> bool:
    """Whether ``spec`` is a gymnasium id rather than a name of levels."""
    return ":" in spec or spec in gym.registry


def make_env(spec: EnvSpec, **options: Any) -> gym.Env[Any, Any]:
    """The environment ``spec`` names (see the module's docstring), given
    those of ``options`` its constructor takes."""
    if callable(spec) and not isinstance(spec, str | Sequence):
        return spec()
    kwargs: dict[str, Any]
    if isinstance(spec, str) and is_env_id(spec):
        env_id, kwargs = spec, {}
    else:
        env_id, kwargs = DEFAULT_ENV, {"levels": spec if isinstance(spec, str) else list(spec)}
    try:
        accepted = _accepted(env_id)
        kwargs |= {k: v for k, v in options.items() if accepted is None or k in accepted}
        return gym.make(env_id, disable_env_checker=True, **kwargs)
    except ModuleNotFoundError as e:
        raise ConductorError(
            f"cannot make {env_id!r}: {e} (is its package installed? Function Quest is "
            "`pip install -e envs`, which ./lab does)"
        ) from None
    except (gym.error.Error, ValueError, KeyError) as e:
        what = f"levels {spec!r}" if env_id == DEFAULT_ENV and isinstance(spec, str) else env_id
        raise ConductorError(f"cannot make the environment for {what}: {e}") from None


def _accepted(env_id: str) -> set[str] | None:
    """Keyword arguments the env's constructor takes (``None``: any)."""
    module, _, name = env_id.rpartition(":")
    if module:  # gymnasium.make imports it to register the id; spec() does not
        importlib.import_module(module)
    spec = gym.spec(name)
    creator = (
        load_env_creator(spec.entry_point)
        if isinstance(spec.entry_point, str)
        else spec.entry_point
    )
    if creator is None:
        return None
    params = inspect.signature(creator).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}
