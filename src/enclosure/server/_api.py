"""The JSON API: thin routes over the facade, each declared once with its role.

``ROUTES`` lists every endpoint with the permission it needs and its body model;
the Starlette routes and the OpenAPI document are both built from it, so the
schema cannot drift from what is served. A handler gets the authenticated
identity and the validated body; blocking work (the decision log, tools) runs in
a worker thread. Bad input is a 4xx with a coded body and writes nothing.

Must not know: SQL, how runs decide calls, how tokens are stored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response

from enclosure.server._artifacts import (
    artifact_diff,
    list_artifacts,
    promote_artifact,
    reject_artifact,
)
from enclosure.server._auth import (
    Identity,
    Permission,
    authenticate,
    issue_token,
    require,
)
from enclosure.server._errors import HttpError
from enclosure.server._escalate import escalate, raise_limits, unlock
from enclosure.server._hub import Recheck
from enclosure.server._manifests import (
    check_manifest,
    diff_versions,
    list_manifests,
    show_manifest,
    upload_manifest,
)
from enclosure.server._models import (
    CallBody,
    DecideBody,
    EscalateBody,
    KillBody,
    ManifestBody,
    PromoteBody,
    RejectBody,
    StartRunBody,
    TokenBody,
)
from enclosure.server._sse import HEARTBEAT, RECHECK
from enclosure.server._wait import wait_decided

if TYPE_CHECKING:
    from starlette.requests import Request

    from enclosure import Enclosure
    from enclosure._run import Run
    from enclosure.approvals import Approval
    from enclosure.server._hub import Hub

__all__ = ["MAX_BODY", "ROUTES", "YAML_TYPES", "Ctx", "Endpoint", "State"]

MAX_BODY = 1024 * 1024
"""Largest request body accepted, in bytes."""
YAML_TYPES = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
)
"""Content types an endpoint with ``yaml=True`` reads as YAML text."""
_MAX_WAIT = 300.0
_MAX_LIMIT = 1000
_APPROVAL_STATUSES = ("pending", "approved", "denied", "expired", "consumed")


@dataclass
class State:
    """What every request shares: the facade, the live-event hub, per-run locks."""

    enc: Enclosure
    hub: Hub
    heartbeat: float = HEARTBEAT
    """Seconds between an idle live stream's keep-alive lines and credential checks."""
    recheck: float = RECHECK
    """Seconds a live stream sends events on one credential check, at most."""
    run_locks: dict[str, threading.Lock] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def run(self, run_id: str) -> Run:
        """The run, rebuilt from the log when this process does not hold it.

        A run held here that another process killed or ended since (the CLI, a
        second server on the same database) takes that close on first
        (``Run.refresh``: what it ran here is torn down, its kill hooks called),
        so it refuses what it must at once. One indexed check per request; the
        run's record, whose counts grow with the run, is not read.
        """
        enc = self.enc
        try:
            run = enc.get_run(run_id)
        except Exception:  # noqa: BLE001 -- unknown here: rebuild it (E-RUN-UNKNOWN if none)
            return enc.resume_run(run_id)
        run.refresh()
        return run

    def lock_for(self, run_id: str) -> threading.Lock:
        """Calls of one run are decided one at a time."""
        with self.guard:
            return self.run_locks.setdefault(run_id, threading.Lock())


@dataclass
class Ctx:
    """One request as a handler sees it."""

    request: Request
    state: State
    identity: Identity
    body: Any

    def path(self, name: str) -> str:
        """A path parameter."""
        return str(self.request.path_params[name])

    def query(self, name: str, default: str | None = None) -> str | None:
        """A query parameter."""
        return self.request.query_params.get(name, default)

    def query_int(self, name: str, default: int, high: int) -> int:
        """A bounded non-negative integer query parameter; 400 when malformed."""
        raw = self.request.query_params.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()) or int(raw) > high:
            msg = f"{name} must be an integer from 0 to {high}"
            raise HttpError(400, "E-REQUEST-QUERY", msg)
        return int(raw)


Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """One route: how it is reached, who may call it, what it takes."""

    method: str
    path: str
    permission: Permission
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    status: int = 200
    stream: bool = False
    yaml: bool = False
    """The body may also be YAML text (``application/yaml``): ``{"text": ...}``."""


async def _thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args)


async def read_body(
    request: Request, model: type[BaseModel], *, yaml: bool = False
) -> BaseModel:
    """Read at most ``MAX_BODY`` bytes of JSON and validate them against ``model``.

    With ``yaml``, a body sent as YAML (see ``YAML_TYPES``) is taken as the text
    of ``{"text": ...}`` instead.

    Raises:
        HttpError: 413 ``E-REQUEST-TOO-LARGE``, 400 ``E-REQUEST-JSON`` (or
            ``E-REQUEST-TEXT`` for YAML that is not UTF-8) or 422
            ``E-REQUEST-INVALID`` (unknown fields included).
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise HttpError(
            413, "E-REQUEST-TOO-LARGE", f"bodies are at most {MAX_BODY} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HttpError(
                413, "E-REQUEST-TOO-LARGE", f"bodies are at most {MAX_BODY} bytes"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if yaml and kind in YAML_TYPES:
        try:
            data: Any = {"text": raw.decode("utf-8")}
        except UnicodeDecodeError:
            msg = "the body is not UTF-8 text"
            raise HttpError(400, "E-REQUEST-TEXT", msg) from None
    else:
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            msg = "the body is not valid JSON"
            raise HttpError(400, "E-REQUEST-JSON", msg) from None
    if not isinstance(data, dict):
        raise HttpError(422, "E-REQUEST-INVALID", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        msg = f"{where}: {first['msg']}"
        raise HttpError(422, "E-REQUEST-INVALID", msg) from None


def _approval(a: Approval) -> dict[str, Any]:
    return a.model_dump(mode="json")


# ---- runs ---------------------------------------------------------------------------


async def list_runs(ctx: Ctx) -> Any:
    limit = ctx.query_int("limit", 50, _MAX_LIMIT)
    runs = await _thread(ctx.state.enc.log.list_runs, limit)
    return {"runs": [r.model_dump(mode="json") for r in runs]}


async def start_run(ctx: Ctx) -> Any:
    body: StartRunBody = ctx.body
    run = await _thread(
        lambda: ctx.state.enc.start_run(
            body.task, agent=body.agent, model=body.model, started_by=ctx.identity.name
        )
    )
    record = await _thread(ctx.state.enc.log.get_run, run.id)
    return record.model_dump(mode="json")


async def show_run(ctx: Ctx) -> Any:
    run_id = ctx.path("run_id")
    record = await _thread(ctx.state.enc.log.get_run, run_id)
    if record is None:
        raise HttpError(404, "E-RUN-UNKNOWN", f"run {run_id!r} is not in the log")
    return record.model_dump(mode="json")


async def run_events(ctx: Ctx) -> Any:
    await show_run(ctx)
    after = ctx.query_int("after", 0, 2**62)
    limit = ctx.query_int("limit", 200, _MAX_LIMIT)
    stored = await _thread(
        lambda: ctx.state.enc.log.events(
            run_id=ctx.path("run_id"), after_seq=after, limit=limit
        )
    )
    return {
        "events": [
            {"seq": s.seq, "hash": s.hash, "event": s.event.model_dump(mode="json")}
            for s in stored
        ]
    }


async def call_tool(ctx: Ctx) -> Any:
    body: CallBody = ctx.body
    state = ctx.state
    run_id = ctx.path("run_id")

    def work() -> dict[str, Any]:
        spec = state.enc.manifest.tools.get(body.tool)
        # One call of a run at a time, here and in every server on this database,
        # each counting in what the others decided (rate limits hold across them).
        with state.lock_for(run_id):
            run = _own_run(state, run_id, ctx.identity)
            with run.exclusively():
                if spec is not None and spec.rate and run.status == "running":
                    raise_limits(state.enc, run, body.tool)
                if spec is not None and spec.mode == "deny" and run.status == "running":
                    unlock(state.enc, run, body.tool)
                result = run.call(
                    body.tool,
                    dict(body.args),
                    context=body.context,
                    approval_id=body.approval_id,
                )
        return result.model_dump(mode="json")

    return await _thread(work)


def _own_run(state: State, run_id: str, identity: Identity) -> Run:
    run = state.run(run_id)
    if run.started_by != identity.name:
        msg = f"run {run_id} was started by another identity"
        raise HttpError(403, "E-AUTH-NOT-YOURS", msg)
    return run


async def escalate_run(ctx: Ctx) -> Any:
    body: EscalateBody = ctx.body
    state = ctx.state
    run_id = ctx.path("run_id")

    def work() -> Approval:
        run = _own_run(state, run_id, ctx.identity)
        return escalate(state.enc, run, body.root)

    return _approval(await _thread(work))


async def kill_run(ctx: Ctx) -> Any:
    body: KillBody = ctx.body
    state = ctx.state
    run_id = ctx.path("run_id")

    def work() -> dict[str, Any]:
        run = state.run(run_id)
        who = ctx.identity.name
        run.kill(f"{body.reason} (killed by {who})", rule="operator", by=who)
        record = state.enc.log.get_run(run_id)
        assert record is not None  # noqa: S101 -- the run was just found
        return record.model_dump(mode="json")

    return await _thread(work)


# ---- approvals -----------------------------------------------------------------------


async def list_approvals(ctx: Ctx) -> Any:
    status = ctx.query("status")
    if status is not None and status not in _APPROVAL_STATUSES:
        msg = f"status must be one of {', '.join(_APPROVAL_STATUSES)}"
        raise HttpError(400, "E-REQUEST-QUERY", msg)
    run_id = ctx.query("run_id")
    approvals = await _thread(
        lambda: ctx.state.enc.approvals.list(status=status, run_id=run_id)  # type: ignore[arg-type]
    )
    return {"approvals": [_approval(a) for a in approvals]}


async def show_approval(ctx: Ctx) -> Any:
    return _approval(
        await _thread(ctx.state.enc.approvals.get, ctx.path("approval_id"))
    )


async def wait_approval(ctx: Ctx) -> Any:
    """Answer as soon as the approval is no longer pending, or at the timeout."""
    timeout = ctx.query_int("timeout", 30, int(_MAX_WAIT))
    state = ctx.state
    approval_id = ctx.path("approval_id")
    return _approval(await wait_decided(state.enc, state.hub, approval_id, timeout))


def _decide(approve: bool) -> Handler:  # noqa: FBT001 -- two fixed handlers
    async def decide(ctx: Ctx) -> Any:
        body: DecideBody = ctx.body
        desk = ctx.state.enc.approvals
        act = desk.approve if approve else desk.deny
        decided = await _thread(
            lambda: act(
                ctx.path("approval_id"), by=ctx.identity.name, reason=body.reason
            )
        )
        return _approval(decided)

    return decide


# ---- audit, identity and tokens ------------------------------------------------------


async def audit_status(ctx: Ctx) -> Any:
    report = await _thread(ctx.state.enc.log.verify)
    return {
        "ok": report.ok,
        "events": report.events,
        "first_bad_seq": report.first_bad_seq,
        "problem": report.problem,
        "checkpoints": report.checkpoints,
    }


async def whoami(ctx: Ctx) -> Any:
    return ctx.identity._asdict()


def _token(record: Any) -> dict[str, Any]:
    return dict(record._asdict())


async def list_tokens(ctx: Ctx) -> Any:
    return {"tokens": [_token(t) for t in await _thread(ctx.state.enc.log.list_tokens)]}


async def create_token(ctx: Ctx) -> Any:
    body: TokenBody = ctx.body
    enc = ctx.state.enc
    secret, record = await _thread(
        lambda: issue_token(
            enc.log, body.name, body.role, now=enc.clock.time(), ttl=body.ttl_seconds
        )
    )
    return {**_token(record), "token": secret}


async def revoke_token(ctx: Ctx) -> Any:
    token_id = ctx.path("token_id")
    enc = ctx.state.enc
    done = await _thread(lambda: enc.log.revoke_token(token_id, now=enc.clock.time()))
    if not done:
        msg = f"token {token_id!r} is unknown or already revoked"
        raise HttpError(404, "E-TOKEN-UNKNOWN", msg)
    ctx.state.hub.publish(Recheck(token_id))  # its open streams end now
    return {"token_id": token_id, "revoked": True}


ROUTES: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/whoami", "read", whoami, "The calling identity and role"),
    Endpoint("GET", "/api/runs", "read", list_runs, "Runs, newest first"),
    Endpoint("POST", "/api/runs", "call", start_run, "Start a run", StartRunBody, 201),
    Endpoint("GET", "/api/runs/{run_id}", "read", show_run, "One run with its counts"),
    Endpoint("GET", "/api/runs/{run_id}/events", "read", run_events, "A run's events"),
    Endpoint(
        "POST",
        "/api/runs/{run_id}/calls",
        "call",
        call_tool,
        "Make a guarded call",
        CallBody,
    ),
    Endpoint(
        "POST", "/api/runs/{run_id}/kill", "kill", kill_run, "Kill a run", KillBody
    ),
    Endpoint(
        "POST",
        "/api/runs/{run_id}/escalations",
        "call",
        escalate_run,
        "Ask for a switched-off tool, a host or a higher limit for this run",
        EscalateBody,
        201,
    ),
    Endpoint(
        "GET", "/api/approvals", "read", list_approvals, "Approvals, oldest first"
    ),
    Endpoint(
        "GET", "/api/approvals/{approval_id}", "read", show_approval, "One approval"
    ),
    Endpoint(
        "GET",
        "/api/approvals/{approval_id}/wait",
        "read",
        wait_approval,
        "Wait until an approval is decided (long poll)",
    ),
    Endpoint(
        "POST",
        "/api/approvals/{approval_id}/approve",
        "decide",
        _decide(approve=True),
        "Approve a parked call",
        DecideBody,
    ),
    Endpoint(
        "POST",
        "/api/approvals/{approval_id}/deny",
        "decide",
        _decide(approve=False),
        "Deny a parked call",
        DecideBody,
    ),
    Endpoint("GET", "/api/audit", "read", audit_status, "Verify the decision log"),
    Endpoint("GET", "/api/tokens", "admin", list_tokens, "API tokens (never secrets)"),
    Endpoint(
        "POST",
        "/api/tokens",
        "admin",
        create_token,
        "Create an API token",
        TokenBody,
        201,
    ),
    Endpoint(
        "POST", "/api/tokens/{token_id}/revoke", "admin", revoke_token, "Revoke a token"
    ),
    Endpoint(
        "POST",
        "/api/manifests/check",
        "read",
        check_manifest,
        "Check a manifest (JSON or YAML body); stores nothing",
        ManifestBody,
        yaml=True,
    ),
    Endpoint(
        "POST",
        "/api/manifests",
        "admin",
        upload_manifest,
        "Upload a manifest version (the same text returns its version)",
        ManifestBody,
        201,
        yaml=True,
    ),
    Endpoint("GET", "/api/manifests", "read", list_manifests, "Manifest versions"),
    Endpoint(
        "GET",
        "/api/manifests/{version}",
        "read",
        show_manifest,
        "One manifest version with its text",
    ),
    Endpoint(
        "GET",
        "/api/manifests/{a}/diff/{b}",
        "read",
        diff_versions,
        "What changed from version a to version b",
    ),
    Endpoint(
        "GET",
        "/api/runs/{run_id}/artifacts",
        "read",
        list_artifacts,
        "A run's quarantined artifacts with their findings and decisions",
    ),
    Endpoint(
        "GET",
        "/api/runs/{run_id}/artifacts/{artifact_id}/diff",
        "read",
        artifact_diff,
        "One artifact against its original (a unified diff)",
    ),
    Endpoint(
        "POST",
        "/api/runs/{run_id}/artifacts/{artifact_id}/promote",
        "decide",
        promote_artifact,
        "Promote an artifact onto the host (never by the run's starter)",
        PromoteBody,
    ),
    Endpoint(
        "POST",
        "/api/runs/{run_id}/artifacts/{artifact_id}/reject",
        "decide",
        reject_artifact,
        "Reject an artifact; it stays in quarantine",
        RejectBody,
    ),
)


def endpoint_app(
    endpoint: Endpoint, state: State
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette handler for ``endpoint``: authenticate, authorise, parse, act."""

    async def handle(request: Request) -> Response:
        enc = state.enc
        identity = await _thread(
            lambda: authenticate(
                enc.log, request.headers.get("authorization"), now=enc.clock.time()
            )
        )
        require(identity, endpoint.permission)
        body = None
        if endpoint.body is not None:
            body = await read_body(request, endpoint.body, yaml=endpoint.yaml)
        result = await endpoint.handler(Ctx(request, state, identity, body))
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=endpoint.status)

    return handle
