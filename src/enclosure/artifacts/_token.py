"""Who approved a promotion: a person at the command line, or CI with a token.

The CI token is random, shown once, and only its SHA-256 is kept under the
home folder (a 256-bit random token needs no slow hash). Rotating it makes the
old one useless.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from enclosure.errors import ArtifactError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["TOKEN_FILE", "PromotionApproval", "PromotionTokens", "check_decider"]

TOKEN_FILE = "promote-token.sha256"  # noqa: S105 -- a file name, not a secret


@dataclass(frozen=True, slots=True)
class PromotionApproval:
    """An explicit approval to promote: who gave it, and how."""

    by: str
    via: Literal["human", "token"] = "human"

    def __post_init__(self) -> None:
        check_decider(self.by)


def check_decider(name: str) -> None:
    """Refuse a decider's name that is empty or holds control characters.

    Raises:
        UsageError: ``E-USAGE``.
    """
    if not name.strip() or any(unicodedata.category(c).startswith("C") for c in name):
        msg = f"the decider's name {name!r} must be one printable line"
        raise UsageError(msg, code="E-USAGE")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PromotionTokens:
    """The CI promotion token of one home folder.

    Args:
        home: the Enclosure home; the token's hash lives in ``TOKEN_FILE`` there.
    """

    def __init__(self, home: Path) -> None:
        self.path = home / TOKEN_FILE

    def rotate(self) -> str:
        """Create a new token, replacing any old one, and return it (only now).

        Raises:
            OSError: the hash cannot be written.
        """
        token = "enc_pt_" + secrets.token_urlsafe(32)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{TOKEN_FILE}.{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, (_digest(token) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self.path)
        return token

    def approve(self, token: str, *, by: str) -> PromotionApproval:
        """The approval ``token`` gives, if it is the current one.

        Raises:
            ArtifactError: no token was created, or this one is wrong
                (``E-ARTIFACT-TOKEN``).
        """
        try:
            stored = self.path.read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            stored = ""
        if not stored:
            msg = (
                "no promotion token exists: create one with `enclosure artifacts token`"
            )
            raise ArtifactError(msg, code="E-ARTIFACT-TOKEN")
        if not hmac.compare_digest(stored, _digest(token)):
            msg = "the promotion token is wrong (or was rotated)"
            raise ArtifactError(msg, code="E-ARTIFACT-TOKEN")
        return PromotionApproval(by=by, via="token")
