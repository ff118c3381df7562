"""Errors of Function Quest."""


class LevelError(ValueError):
    """A level is malformed; the message starts with the field at fault,
    e.g. ``functions[2].cost: must be >= 0, got -1``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
