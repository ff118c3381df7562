"""What the Conductor raises."""


class ConductorError(Exception):
    """A Conductor cannot do what was asked: an unknown environment, or an
    observation that does not fit it."""


class ConductorFileError(ConductorError, ValueError):
    """A saved Conductor cannot be loaded: the file is missing, truncated,
    corrupt, not a Conductor, or from an incompatible version; the message
    names which."""


__all__ = [
    "ConductorError",
    "ConductorFileError",
]
