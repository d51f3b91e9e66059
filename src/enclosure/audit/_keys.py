"""The checkpoint signing key on disk: created on first use, rotated, never guessed.

Two files under a directory (``<home>/keys`` by default):

- ``audit-signing.pem``: the Ed25519 private key (PKCS#8), mode 0600;
- ``audit-public.pem``: every public key this log has signed with, oldest first,
  the current one last. Rotation appends to it, so old checkpoints still verify.

The key is generated only when neither file exists. Once the keyring names a key,
a missing, unreadable, garbled or group/world-readable private key, or one whose
public half is not in the keyring, makes ``signer`` refuse with ``E-AUDIT-KEY``:
the writer then fails closed instead of signing with a key nobody can check.

Must not know: events, the Merkle tree or the database.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclosure.audit._checkpoint import key_id, parse_public_keys, public_key_pem
from enclosure.errors import AuditUnavailable

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["PRIVATE_NAME", "PUBLIC_NAME", "SigningKeys"]

PRIVATE_NAME = "audit-signing.pem"
PUBLIC_NAME = "audit-public.pem"
CODE = "E-AUDIT-KEY"


class SigningKeys:
    """The signing key and keyring in ``folder``; see the module docstring."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.private_path = folder / PRIVATE_NAME
        self.public_path = folder / PUBLIC_NAME

    def __repr__(self) -> str:
        return f"<SigningKeys {self.folder}>"  # never the key

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key in the keyring (empty when there is none yet).

        Raises:
            AuditUnavailable: ``E-AUDIT-KEY``, the keyring cannot be read.
        """
        try:
            text = self.public_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise self._error(f"cannot read the keyring {self.public_path}") from exc
        try:
            return parse_public_keys(text)
        except ValueError as exc:
            msg = f"the keyring {self.public_path} is garbled: {exc}"
            raise self._error(msg) from exc

    def signer(self) -> Ed25519PrivateKey:
        """The current private key, generated if this log has never had one.

        Raises:
            AuditUnavailable: ``E-AUDIT-KEY``: the key is missing although the
                keyring names one, unreadable, too widely readable, or not in the
                keyring. Nothing is signed.
        """
        ring = self.public_keys()
        if not ring and not self.private_path.exists():
            return self._generate(ring)
        key = self._load_private()
        if key_id(key.public_key()) not in ring:
            msg = (
                f"the signing key {self.private_path} is not in the keyring "
                f"{self.public_path} (replaced?); refusing to sign"
            )
            raise self._error(msg)
        return key

    def rotate(self) -> str:
        """Make a new signing key; the old public key stays in the keyring.

        Returns:
            The new key's ``key_id``.

        Raises:
            AuditUnavailable: ``E-AUDIT-KEY``, the files cannot be written.
        """
        ring = self.public_keys()
        if ring and self.private_path.exists():
            self.signer()  # refuse to rotate away from a key we cannot vouch for
        return key_id(self._generate(ring).public_key())

    def _generate(self, ring: dict[str, Ed25519PublicKey]) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Public half first: a crash in between leaves a key we can still
            # check, never one that signs what no keyring can verify.
            keyring = "".join(public_key_pem(k) for k in ring.values())
            _write_atomic(
                self.public_path,
                (keyring + public_key_pem(key.public_key())).encode("ascii"),
                0o644,
            )
            _write_atomic(self.private_path, pem, 0o600)
        except OSError as exc:
            msg = f"cannot write the signing key in {self.folder}"
            raise self._error(msg) from exc
        return key

    def _load_private(self) -> Ed25519PrivateKey:
        where = self.private_path
        try:
            fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError as exc:
            msg = (
                f"the signing key {where} is missing but the keyring names one; "
                "restore it, or run `enclosure audit rotate-key`; refusing to sign"
            )
            raise self._error(msg) from exc
        except OSError as exc:
            msg = f"cannot open the signing key {where} ({exc.strerror})"
            raise self._error(f"{msg}; refusing to sign") from exc
        with os.fdopen(fd, "rb") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            if mode & 0o077:
                msg = (
                    f"the signing key {where} has mode {mode:04o}; others may read "
                    f"it (chmod 600 {where}); refusing to sign"
                )
                raise self._error(msg)
            data = file.read()
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            msg = f"the signing key {where} is not a valid key; refusing to sign"
            raise self._error(msg) from exc
        if not isinstance(key, Ed25519PrivateKey):
            msg = f"the signing key {where} is not an Ed25519 key; refusing to sign"
            raise self._error(msg)
        return key

    @staticmethod
    def _error(message: str) -> AuditUnavailable:
        return AuditUnavailable(message, code=CODE)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a temporary file with ``mode``, fsync, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; never widened
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
