"""Signed checkpoints: what is signed, how, and how a signature is checked.

A checkpoint commits to the Merkle root (``_merkle``) of the first ``tree_size``
events at a time. The signed bytes are a short text note, one field per line, so a
person can check one with any Ed25519 tool::

    enclosure-audit checkpoint v1
    <tree_size>
    <root hash, hex>
    <timestamp, RFC 3339>

Keys are named by ``key_id``, the first 16 hex digits of the SHA-256 of the raw
32-byte public key. Public keys travel as PEM (SubjectPublicKeyInfo) blocks; a
keyring file is several of them, the current key last.

Pure: keys and bytes in, verdicts out; reading and writing key files is ``_keys``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import TYPE_CHECKING, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "NOTE_HEADER",
    "Checkpoint",
    "checkpoint_note",
    "key_id",
    "parse_public_keys",
    "public_key_pem",
    "sign_checkpoint",
    "signature_problem",
]

NOTE_HEADER = "enclosure-audit checkpoint v1"
_PEM_BLOCK = re.compile(
    r"-----BEGIN PUBLIC KEY-----\s+[A-Za-z0-9+/=\s]+?-----END PUBLIC KEY-----"
)


class Checkpoint(NamedTuple):
    """A signed tree head: what ``CheckpointEvent`` and the copies carry."""

    tree_size: int
    root_hash: str
    ts: str
    key_id: str
    signature: str


def checkpoint_note(tree_size: int, root_hash: str, ts: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return f"{NOTE_HEADER}\n{tree_size}\n{root_hash}\n{ts}\n".encode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """The short name of a public key: 16 hex digits of the SHA-256 of its bytes."""
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The PEM text of a public key, as keyring files and ``--key`` take it."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def parse_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Every Ed25519 public key in PEM ``text``, by ``key_id``.

    Raises:
        ValueError: no PEM block, or a block that is not an Ed25519 public key.
    """
    keys: dict[str, Ed25519PublicKey] = {}
    blocks = _PEM_BLOCK.findall(text)
    if not blocks:
        msg = "no PEM public key found"
        raise ValueError(msg)
    for number, block in enumerate(blocks, 1):
        try:
            key = serialization.load_pem_public_key(block.encode("ascii"))
        except ValueError as exc:
            msg = f"public key {number} is not valid PEM"
            raise ValueError(msg) from exc
        if not isinstance(key, Ed25519PublicKey):
            msg = f"public key {number} is not an Ed25519 key"
            raise ValueError(msg)  # noqa: TRY004 -- a bad file is a value problem
        keys[key_id(key)] = key
    return keys


def sign_checkpoint(
    private_key: Ed25519PrivateKey, tree_size: int, root_hash: str, ts: str
) -> Checkpoint:
    """Sign the tree head ``(tree_size, root_hash, ts)``."""
    signature = private_key.sign(checkpoint_note(tree_size, root_hash, ts))
    return Checkpoint(
        tree_size,
        root_hash,
        ts,
        key_id(private_key.public_key()),
        base64.b64encode(signature).decode("ascii"),
    )


def signature_problem(
    checkpoint: Checkpoint, public_keys: Mapping[str, Ed25519PublicKey]
) -> str | None:
    """Why ``checkpoint``'s signature is not good under ``public_keys``, or ``None``."""
    key = public_keys.get(checkpoint.key_id)
    if key is None:
        return f"signed by unknown key {checkpoint.key_id} (key replaced?)"
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        key.verify(
            signature,
            checkpoint_note(checkpoint.tree_size, checkpoint.root_hash, checkpoint.ts),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return f"signature by key {checkpoint.key_id} does not verify (forged?)"
    return None
