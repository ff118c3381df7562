"""What Orchestra Kit raises. Signature and resolution errors come from the Pit
(:class:`~symphony_lab.pit.SignatureError`, :class:`~symphony_lab.pit.ResolutionError`)."""

from __future__ import annotations

from symphony_lab.pit import KitError


class PackageError(KitError):
    """A package cannot be made or read: a missing manifest, a cap exceeded, a
    damaged archive. The message names the package and the cause."""


class UnsafePackage(PackageError):
    """A package tries to write outside its folder or to place what is not a
    plain file (a link, a device, a setuid file, a bomb). Nothing is written
    outside the staging folder, which is removed."""


class InstallError(KitError):
    """An install, upgrade, uninstall or rollback was refused; what is
    installed is unchanged."""


class IntegrityError(KitError):
    """An installed extension's files no longer match the digests recorded
    when it was installed."""


class RegistryError(KitError):
    """A registry refused a request, or answered with something unusable."""


class StaleIndex(RegistryError):
    """A registry's index is older than one already seen, or past its expiry."""


class AuthError(RegistryError, PermissionError):
    """A registry asked for a token, or refused the one given."""
