"""symphony-lab: train a Conductor to orchestrate AI models and tools, on the Pit."""

from symphony_lab._pit import __version__

__all__ = ["__version__"]
