"""The Conductor: a PyTorch policy that learns, in Function Quest, which
function to call next, and is then trusted with real work."""

from symphony_lab.conductor.conductor import Conductor, ConductorConfig, resolve_levels
from symphony_lab.conductor.evaluation import Evaluation
from symphony_lab.conductor.network import ConductorNet, NetworkConfig
from symphony_lab.errors import ConductorError, ConductorFileError

__all__ = [
    "Conductor",
    "ConductorConfig",
    "ConductorError",
    "ConductorFileError",
    "ConductorNet",
    "Evaluation",
    "NetworkConfig",
    "resolve_levels",
]
