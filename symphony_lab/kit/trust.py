"""Publishers' keys and package signatures, in minisign's formats.

``keygen`` writes ``NAME.pub`` and ``NAME.key`` (the secret, mode 0600,
unencrypted as ``minisign -W`` writes it). ``sign_package`` writes
``PACKAGE.minisig`` beside a package: Ed25519 over the archive's BLAKE2b-512
digest, with ``name@version`` as the trusted comment, so ``minisign -Vm
PACKAGE -p NAME.pub`` checks it too. A :class:`Keyring` is the set of keys a
user (or a registry) trusts: one ``.pub`` file each in a folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from symphony_lab.kit.package import PackageInfo, read_info, read_package
from symphony_lab.pit import (
    SignatureError,
    UnknownKeyError,
    kit_key_id,
    kit_keygen,
    kit_sign,
    kit_signer,
    kit_verify,
)

SIGNATURE_SUFFIX = ".minisig"


@dataclass(frozen=True)
class KeyFiles:
    key_id: str
    public: Path
    secret: Path


def keygen(folder: str | Path, name: str = "symphony", *, force: bool = False) -> KeyFiles:
    """A new Ed25519 key pair as ``folder/NAME.pub`` and ``folder/NAME.key``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key_id, public, secret = kit_keygen()
    pub, sec = folder / f"{name}.pub", folder / f"{name}.key"
    if not force and (pub.exists() or sec.exists()):
        raise FileExistsError(
            f"{sec} or {pub} exists already: keep it, or pass force to replace it"
        )
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(sec, flags, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    pub.write_text(public)
    return KeyFiles(key_id, pub, sec)


def signature_path(package: str | Path) -> Path:
    return Path(f"{package}{SIGNATURE_SUFFIX}")


def sign_package(package: str | Path, secret_key: str | Path) -> Path:
    """Signs a package file with a secret key file; writes ``PACKAGE.minisig``."""
    data, info = read_package(package)
    try:
        secret = Path(secret_key).read_text()
    except OSError as e:
        raise SignatureError(f"{secret_key}: cannot read the secret key: {e}") from None
    sig = kit_sign(secret, data, info.id, f"signature of {info.filename} from symphony kit")
    out = signature_path(package)
    out.write_text(sig)
    return out


class Keyring:
    """The public keys trusted to sign packages, by key id."""

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys: dict[str, str] = dict(keys or {})

    @classmethod
    def load(cls, folders: Iterable[str | Path]) -> Keyring:
        """Every ``*.pub`` in the folders (missing folders hold none)."""
        return cls.of(pub for folder in folders for pub in sorted(Path(folder).glob("*.pub")))

    @classmethod
    def of(cls, files: Iterable[str | Path]) -> Keyring:
        """The keys in these ``.pub`` files."""
        keys: dict[str, str] = {}
        for pub in files:
            text = Path(pub).read_text()
            try:
                keys[kit_key_id(text)] = text
            except SignatureError as e:
                raise SignatureError(f"{pub}: {e}") from None
        return cls(keys)

    def trust(self, folder: str | Path, public_key: str | Path) -> str:
        """Adds a public key file to the keyring folder; returns its id."""
        text = Path(public_key).read_text()
        key_id = kit_key_id(text)
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{key_id}.pub").write_text(text)
        self.keys[key_id] = text
        return key_id

    def verify(self, data: bytes, signature: str) -> tuple[str, str]:
        """``(key_id, trusted comment)`` when a trusted key made ``signature`` over ``data``."""
        key_id = kit_signer(signature)
        if key_id not in self.keys:
            known = ", ".join(sorted(self.keys)) or "none"
            raise UnknownKeyError(
                f"signed by key {key_id}, which is not trusted (trusted: {known}); "
                "trust its publisher with: symphony kit trust KEY.pub"
            )
        return key_id, kit_verify(self.keys[key_id], data, signature)


def verify_package(
    data: bytes, signature: str, keyring: Keyring, source: str | Path = "<package>"
) -> tuple[PackageInfo, str]:
    """Checks a package's signature before anything is read from it, then that
    the signature is for this very ``name@version``; returns what the package
    says of itself and the signing key's id."""
    key_id, trusted = keyring.verify(data, signature)
    info = read_info(data, source)
    if trusted.split(" ")[0] != info.id:
        raise SignatureError(f"{source}: the signature is for {trusted!r}, not for {info.id}")
    return info, key_id
