"""HTTP errors: one JSON shape, a stable code, and a status chosen by that code.

Every refusal leaves as ``{"error": {"code": "E-...", "message": "..."}}`` with a
4xx status (503 when the decision log is unreachable); never a traceback. Errors
from the enclosure are mapped by their ``code`` first, then by their class, most
specific first, as Starlette's exception handlers walk the MRO.

Must not know: routes, roles or storage.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from enclosure.errors import (
    ApprovalError,
    AuditUnavailable,
    EnclosureError,
    ManifestError,
    RunKilled,
    UsageError,
)

__all__ = ["HttpError", "error_response", "from_enclosure_error"]

_BY_CODE = {
    "E-APPROVAL-NOT-FOUND": 404,
    "E-APPROVAL-SELF": 403,
    "E-RUN-UNKNOWN": 404,
    "E-RUN-ENDED": 409,
    "E-ARTIFACT-NOT-FOUND": 404,
    "E-ARTIFACT-DECIDED": 409,
    "E-ARTIFACT-FINDINGS": 409,
    "E-ARTIFACT-UNSAFE": 409,
    "E-ARTIFACT-CHANGED": 409,
    "E-ARTIFACT-CONFLICT": 409,
    "E-ARTIFACT-LIMIT": 409,
    "E-ARTIFACT-IO": 503,
}
_BY_CLASS: tuple[tuple[type[EnclosureError], int], ...] = (
    (AuditUnavailable, 503),
    (ManifestError, 422),
    (ApprovalError, 409),
    (RunKilled, 409),
    (UsageError, 400),
)


class HttpError(Exception):
    """A refusal the server answers with ``status`` and a coded JSON body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The JSON body every error has."""
    body = {"error": {"code": code, "message": " ".join(message.split())}}
    return JSONResponse(body, status_code=status)


def from_enclosure_error(exc: EnclosureError) -> JSONResponse:
    """Map an enclosure error to its status by code, else by class."""
    status = _BY_CODE.get(exc.code)
    if status is None:
        status = next((s for cls, s in _BY_CLASS if isinstance(exc, cls)), 400)
    return error_response(status, exc.code, exc.message)
