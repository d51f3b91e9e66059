"""API tokens and roles: who is calling, and whether their role may do this.

A token is ``enc_`` plus 32 random bytes (URL-safe base64); the database keeps only
its SHA-256, and nothing here logs a token. Each token acts as one identity (its
``name``: who started a run, who decided an approval) in one role:

- ``agent``: start runs and make calls in its own runs; never decide;
- ``approver``: decide approvals and artifacts (separation of duties: never in a
  run it started);
- ``operator``: kill runs;
- ``viewer``: read;
- ``admin``: manage tokens, upload manifests.

Every role may read. Must not know: routes or HTTP beyond the header's format.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Literal, NamedTuple

from enclosure.audit import TokenRecord
from enclosure.server._errors import HttpError

if TYPE_CHECKING:
    from enclosure.audit import DecisionLog

__all__ = [
    "GRANTS",
    "ROLES",
    "Identity",
    "Permission",
    "authenticate",
    "hash_token",
    "issue_token",
    "require",
]

ROLES = ("agent", "approver", "operator", "viewer", "admin")
Permission = Literal["read", "call", "decide", "kill", "admin"]
GRANTS: dict[Permission, frozenset[str]] = {
    "read": frozenset(ROLES),
    "call": frozenset({"agent"}),
    "decide": frozenset({"approver"}),
    "kill": frozenset({"operator"}),
    "admin": frozenset({"admin"}),
}
_PREFIX = "enc_"
_MAX_TOKEN = 200


class Identity(NamedTuple):
    """Who a request acts as."""

    name: str
    role: str
    token_id: str


def hash_token(secret: str) -> str:
    """The SHA-256 (hex) stored for a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(
    log: DecisionLog, name: str, role: str, *, now: float, ttl: float | None = None
) -> tuple[str, TokenRecord]:
    """Make and store a new token; return its secret (shown once) and its record.

    Raises:
        UsageError: unknown role (``E-USAGE-ROLE``) or an empty name.
        AuditUnavailable: the token cannot be stored.
    """
    from enclosure.errors import UsageError  # noqa: PLC0415

    if not name.strip() or len(name) > 200:  # noqa: PLR2004 -- a name, not a essay
        msg = "a token needs a name of 1 to 200 characters"
        raise UsageError(msg, code="E-USAGE-NAME")
    secret = _PREFIX + secrets.token_urlsafe(32)
    record = TokenRecord(
        token_id="tok_" + secrets.token_hex(6),
        name=name,
        role=role,
        created_at=now,
        expires_at=None if ttl is None else now + ttl,
        revoked_at=None,
    )
    log.create_token(record, hash_token(secret))
    return secret, record


def authenticate(log: DecisionLog, header: str | None, *, now: float) -> Identity:
    """The identity of an ``Authorization: Bearer <token>`` header.

    Raises:
        HttpError: 401 ``E-AUTH-MISSING``, ``E-AUTH-INVALID``, ``E-AUTH-EXPIRED``
            or ``E-AUTH-REVOKED``.
    """
    if not header:
        raise HttpError(401, "E-AUTH-MISSING", "send Authorization: Bearer <token>")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if (
        scheme.lower() != "bearer"
        or not secret.startswith(_PREFIX)
        or len(secret) > _MAX_TOKEN
    ):
        raise HttpError(401, "E-AUTH-INVALID", "the token is not valid")
    record = log.find_token(hash_token(secret))
    if record is None:
        raise HttpError(401, "E-AUTH-INVALID", "the token is not valid")
    if record.revoked_at is not None:
        raise HttpError(401, "E-AUTH-REVOKED", "the token was revoked")
    if not record.usable(now):
        raise HttpError(401, "E-AUTH-EXPIRED", "the token has expired")
    return Identity(record.name, record.role, record.token_id)


def require(identity: Identity, permission: Permission) -> None:
    """Refuse with 403 ``E-AUTH-ROLE`` unless the identity's role grants it."""
    if identity.role not in GRANTS[permission]:
        msg = f"role {identity.role!r} may not {permission}"
        raise HttpError(403, "E-AUTH-ROLE", msg)
