"""Orchestra Kit: extensions as signed packages, resolved and installed.

- :func:`pack` makes ``NAME-VERSION.symph`` from an extension's folder;
- :func:`keygen`, :func:`sign_package`, :class:`Keyring`: minisign-format
  Ed25519 signatures and the publishers a user trusts;
- :class:`Kit`: resolve with PubGrub, install, upgrade, uninstall, roll back,
  each change atomic, in a home (:func:`default_home`) the Stage loads from.

Every decoder here treats the package as hostile: see :mod:`.extract`.
"""

from symphony_lab.kit.errors import InstallError, IntegrityError, PackageError, UnsafePackage
from symphony_lab.kit.extract import extract
from symphony_lab.kit.home import (
    LOCK,
    RECORD,
    STEPS,
    Installed,
    Kit,
    check_installed,
    default_home,
    installed_folders,
    permission_lines,
)
from symphony_lab.kit.package import SUFFIX, FileEntry, PackageInfo, pack, read_info, read_package
from symphony_lab.kit.trust import (
    KeyFiles,
    Keyring,
    keygen,
    sign_package,
    signature_path,
    verify_package,
)

__all__ = [
    "LOCK",
    "RECORD",
    "STEPS",
    "SUFFIX",
    "FileEntry",
    "InstallError",
    "Installed",
    "IntegrityError",
    "KeyFiles",
    "Keyring",
    "Kit",
    "PackageError",
    "PackageInfo",
    "UnsafePackage",
    "check_installed",
    "default_home",
    "extract",
    "installed_folders",
    "keygen",
    "pack",
    "permission_lines",
    "read_info",
    "read_package",
    "sign_package",
    "signature_path",
    "verify_package",
]
