"""What the Stage raises when an extension cannot do what was asked."""

from symphony_lab.pit import PitError


class ExtensionError(PitError):
    """An extension on the Stage could not do what was asked.

    ``extension`` names it; ``log_tail`` holds the last lines it wrote, when known.
    """

    def __init__(self, message: str, extension: str = "", log_tail: str = "") -> None:
        super().__init__(message)
        self.extension = extension
        self.log_tail = log_tail


class ExtensionCrashed(ExtensionError):
    """The extension's process died (a signal, or an exit) while calls were in flight."""


class ExtensionTimeout(ExtensionError, TimeoutError):
    """A call passed its deadline, or the extension stopped answering heartbeats (a hang)."""


class ExtensionOOM(ExtensionError, MemoryError):
    """The extension ran out of the memory its manifest allows."""


class ExtensionUnavailable(ExtensionError):
    """The extension is stopped, or restarted too often and was given up."""


class ExtensionCallError(ExtensionError):
    """The extension's function raised; ``remote_type`` and ``remote_traceback`` say what."""

    def __init__(
        self, message: str, extension: str = "", remote_type: str = "", remote_traceback: str = ""
    ) -> None:
        super().__init__(message, extension)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


__all__ = [
    "ExtensionCallError",
    "ExtensionCrashed",
    "ExtensionError",
    "ExtensionOOM",
    "ExtensionTimeout",
    "ExtensionUnavailable",
]
