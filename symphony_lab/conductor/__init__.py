"""The Conductor: a PyTorch policy that learns which function to call next,
in any environment that speaks the observation protocol (Function Quest by
default), and then conducts real runs through the Policy protocol."""

from symphony_lab.conductor.conductor import Conductor, ConductorConfig
from symphony_lab.conductor.envs import DEFAULT_ENV, EnvSpec, make_env
from symphony_lab.conductor.errors import ConductorError, ConductorFileError
from symphony_lab.conductor.evaluation import Evaluation
from symphony_lab.conductor.network import ConductorNet, NetworkConfig

__all__ = [
    "DEFAULT_ENV",
    "Conductor",
    "ConductorConfig",
    "ConductorError",
    "ConductorFileError",
    "ConductorNet",
    "EnvSpec",
    "Evaluation",
    "NetworkConfig",
    "make_env",
]
