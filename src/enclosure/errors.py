"""The exception tree of Enclosure.

Every error a user or an agent can see carries a stable ``code`` (``E-...``) that is
listed and explained in ``docs/errors.md``. Codes are never reused once retired; tests
assert on ``.code``, never on message text.

    EnclosureError                  base; ``code`` and a one-line message
    ├── ManifestError (ValueError)  a manifest could not be loaded; holds every issue
    ├── UsageError (ValueError)     a caller used the API or CLI wrongly
    ├── CallRefused                 the agent may read it and try something else
    │   ├── ToolDenied              the policy said deny, or arguments were invalid
    │   └── ApprovalPending         the call waits for a human decision
    ├── RunKilled                   the run is over; nothing more will run in it
    ├── ToolFailed                  the tool's handler raised
    │   └── UpstreamError           an MCP upstream failed, hung, crashed or lied
    ├── ApprovalError (LookupError) an approval is unknown, used, expired or decided
    ├── AuditUnavailable (OSError)  the decision log cannot be written or read
    ├── SandboxUnavailable (OSError) no working sandbox, so nothing sandboxed runs
    ├── ArtifactError (ValueError)  an artifact cannot be promoted or rejected
    ├── EgressRefused               the egress proxy refused a request (403/429/...)
    └── CredentialError             a credential could not be issued or was misused
        └── TokenRefused            a run token is bad, expired, revoked or out of scope

Errors an agent may see and retry (``CallRefused``) are kept apart from fatal ones
(``RunKilled``, ``AuditUnavailable``).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

__all__ = [
    "ApprovalError",
    "ApprovalPending",
    "ArtifactError",
    "AuditUnavailable",
    "CallRefused",
    "CredentialError",
    "EgressRefused",
    "EnclosureError",
    "ManifestError",
    "ManifestIssue",
    "RunKilled",
    "SandboxUnavailable",
    "ToolDenied",
    "ToolFailed",
    "UpstreamError",
    "UsageError",
]

DOCS = "docs/errors.md"


class EnclosureError(Exception):
    """Base class: a stable ``code`` and a one-line ``message``."""

    default_code: ClassVar[str] = "E-INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code or self.default_code
        self.message = " ".join(message.split())  # always one line
        super().__init__(f"{self.code}: {self.message}")


class ManifestIssue(NamedTuple):
    """One problem found in a manifest, located in its source file."""

    code: str
    message: str
    file: str
    line: int
    col: int

    def format(self) -> str:
        """Return ``FILE:LINE:COL: CODE: message``, the form editors and CI parse."""
        return f"{self.file}:{self.line}:{self.col}: {self.code}: {self.message}"


class ManifestError(EnclosureError, ValueError):
    """A manifest could not be loaded; ``issues`` lists every problem found."""

    default_code = "E-MANIFEST-INVALID"

    def __init__(self, issues: list[ManifestIssue]) -> None:
        if not issues:
            msg = "ManifestError needs at least one issue"
            raise ValueError(msg)
        self.issues = issues
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"{first.format()}{more}", code=first.code)


class UsageError(EnclosureError, ValueError):
    """The API or the CLI was called with arguments that cannot work."""

    default_code = "E-USAGE"


class CallRefused(EnclosureError):
    """A call was not carried out; the agent may read why and try something else."""

    default_code = "E-DENIED"


class ToolDenied(CallRefused):
    """The policy denied the call, or its arguments failed validation."""

    default_code = "E-DENIED"


class ApprovalPending(CallRefused):
    """The call is parked until a human decides; ``approval_id`` names it."""

    default_code = "E-APPROVAL-PENDING"

    def __init__(self, message: str, *, approval_id: str) -> None:
        self.approval_id = approval_id
        super().__init__(message)


class RunKilled(EnclosureError):
    """The run was killed; every later call in it is refused."""

    default_code = "E-RUN-KILLED"


class ToolFailed(EnclosureError):
    """The tool's handler raised; the cause is chained with ``from``."""

    default_code = "E-TOOL-FAILED"


class UpstreamError(ToolFailed):
    """An MCP upstream could not start, did not answer, crashed or broke protocol.

    The code says which (``E-UPSTREAM-START``, ``E-UPSTREAM-TIMEOUT``,
    ``E-UPSTREAM-CRASHED``, ``E-UPSTREAM-PROTOCOL``, ``E-UPSTREAM-ERROR``); the
    gateway answers the call with it and stays up.
    """

    default_code = "E-UPSTREAM-ERROR"


class ApprovalError(EnclosureError, LookupError):
    """An approval is unknown, already decided, used, expired or does not match."""

    default_code = "E-APPROVAL-NOT-FOUND"


class AuditUnavailable(EnclosureError, OSError):
    """The decision log cannot be written or read, so nothing may run (fail closed)."""

    default_code = "E-AUDIT-UNAVAILABLE"


class SandboxUnavailable(EnclosureError, OSError):
    """No working sandbox: sandboxed actions are refused, never run unguarded.

    Bubblewrap, user namespaces or libseccomp are missing, or bubblewrap could not
    set up a mount; the message says how to fix it.
    """

    default_code = "E-SANDBOX-UNAVAILABLE"


class ArtifactError(EnclosureError, ValueError):
    """An artifact is unknown, already decided, changed since its scan, or blocked."""

    default_code = "E-ARTIFACT-NOT-FOUND"


class EgressRefused(EnclosureError):
    """The egress proxy refused a request: no rule, a rate limit, SSRF, a size cap.

    ``status`` is the HTTP status the sandboxed client got; ``rule`` names the
    network rule that decided, when one did.
    """

    default_code = "E-EGRESS-DENIED"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int = 403,
        rule: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.rule = rule


class CredentialError(EnclosureError):
    """A credential's source failed, or a principal outside its scope asked for it.

    The message never contains the secret.
    """

    default_code = "E-CREDENTIAL-UNAVAILABLE"
