"""The web dashboard: server-rendered pages over the same facade as the JSON API.

Pages: runs (status, calls, cost), a run's live timeline (Server-Sent Events
through the session), the approval queue with the exact proposed action, the kill
button and the audit status. Logging in takes an API token: the session keeps its
hash and re-checks it on every request, so revoking the token ends the session.

Security: the session cookie is random, ``HttpOnly``, ``SameSite=Strict`` and
``Secure`` (unless ``secure_cookies=False`` for plain-HTTP development); only its
SHA-256 is stored, in the decision log's database, so sessions survive a restart
and end at their expiry. Every form carries a CSRF token (the session's, derived
one-way from its cookie, or a double-submit cookie's on the login form) and a
cross-origin ``Origin`` header is refused. Buttons appear only for roles that may
use them, and every action is checked again on the server.

Must not know: SQL, or how calls are decided.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from enclosure.audit import DecisionEvent
from enclosure.errors import EnclosureError
from enclosure.server._api import MAX_BODY, Ctx, State
from enclosure.server._auth import GRANTS, Identity, authenticate, hash_token
from enclosure.server._errors import HttpError
from enclosure.server._hub import Recheck
from enclosure.server._sse import stream_events

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

    from enclosure.audit import DecisionLog, StoredEvent

__all__ = ["SESSION_COOKIE", "Sessions", "ui_routes"]

SESSION_COOKIE = "enclosure_session"
_CSRF_COOKIE = "enclosure_csrf"
_SESSION_SECONDS = 8 * 3600
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'unsafe-inline'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Session:
    """One logged-in browser: whose token, its CSRF token, when it ends."""

    token_sha256: str
    csrf: str
    expires_at: float


class Sessions:
    """Sessions in the decision log, keyed by the SHA-256 of the cookie's value."""

    def __init__(self, log: DecisionLog) -> None:
        self._log = log

    def create(self, token_sha256: str, now: float) -> tuple[str, Session]:
        """A new session; return the cookie value (never stored) and the session.

        Raises:
            AuditUnavailable: the session cannot be stored.
        """
        cookie = secrets.token_urlsafe(32)
        expires_at = now + _SESSION_SECONDS
        self._log.create_session(
            _sha(cookie), token_sha256, expires_at=expires_at, now=now
        )
        return cookie, Session(token_sha256, _csrf(cookie), expires_at)

    def get(self, cookie: str | None, now: float) -> Session | None:
        """The live session for a cookie value, if any."""
        if not cookie:
            return None
        found = self._log.find_session(_sha(cookie), now=now)
        if found is None:
            return None
        token_sha256, expires_at = found
        return Session(token_sha256, _csrf(cookie), expires_at)

    def drop(self, cookie: str | None) -> None:
        """End a session."""
        if cookie:
            self._log.drop_session(_sha(cookie))


def _csrf(cookie: str) -> str:
    """The session's CSRF token: shown in its pages, and no way back to the cookie."""
    return _sha("csrf:" + cookie)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class _Ui:
    state: State
    sessions: Sessions
    secure: bool

    def render(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = _TEMPLATES.get_template(name).render(**values)
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    def now(self) -> float:
        return self.state.enc.clock.time()

    async def who(self, request: Request) -> tuple[Identity, Session] | None:
        """The logged-in identity, re-checked against its token; None if none."""
        cookie = request.cookies.get(SESSION_COOKIE)
        session = await anyio.to_thread.run_sync(self.sessions.get, cookie, self.now())
        if session is None:
            return None
        log = self.state.enc.log
        record = await anyio.to_thread.run_sync(log.find_token, session.token_sha256)
        if record is None or not record.usable(self.now()):
            await anyio.to_thread.run_sync(self.sessions.drop, cookie)
            return None
        return Identity(record.name, record.role, record.token_id), session

    def cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/ui",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form body (bounded), first value per field."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HttpError(413, "E-REQUEST-TOO-LARGE", "the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "E-REQUEST-FORM", "the form is not valid") from None
    return {key: values[0] for key, values in fields.items()}


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HttpError(403, "E-UI-ORIGIN", "cross-origin form posts are refused")


def _check_csrf(expected: str | None, form: dict[str, str]) -> None:
    given = form.get("csrf", "")
    if not expected or not hmac.compare_digest(expected, given):
        raise HttpError(403, "E-UI-CSRF", "the form's CSRF token is missing or wrong")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _row(stored: Any) -> dict[str, Any]:
    e = stored.event
    detail = (
        getattr(e, "reason", None)
        or getattr(e, "message", None)
        or getattr(e, "action", None)
        or ""
    )
    return {
        "seq": stored.seq,
        "ts": e.ts,
        "kind": e.kind,
        "tool": getattr(e, "tool", "") or "",
        "outcome": getattr(e, "outcome", None) or getattr(e, "disposition", "") or "",
        "detail": detail,
    }


def _decisions(log: DecisionLog, run_id: str) -> list[StoredEvent]:
    return log.events(run_id=run_id, kinds=["decision"])


def ui_routes(state: State, *, secure_cookies: bool = True) -> list[Route]:  # noqa: C901, PLR0915 -- one closure per page
    """The dashboard's routes, under ``/ui``."""
    ui = _Ui(state, Sessions(state.enc.log), secure_cookies)
    enc = state.enc

    def page(
        permission: str,
        handler: Callable[[Request, Identity, Session], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            found = await ui.who(request)
            if found is None:
                return RedirectResponse("/ui/login", status_code=303)
            identity, session = found
            if request.method == "POST":
                _same_origin(request)
                form = await _form(request)
                _check_csrf(session.csrf, form)
                request.state.form = form
            if identity.role not in GRANTS[permission]:  # type: ignore[index]
                raise HttpError(403, "E-AUTH-ROLE", f"role {identity.role!r} may not")
            return await handler(request, identity, session)

        return wrapped

    async def login(request: Request) -> Response:
        if request.method == "GET":
            csrf = secrets.token_urlsafe(24)
            response = ui.render("login.html", identity=None, csrf=csrf)
            ui.cookie(response, _CSRF_COOKIE, csrf, 3600)
            return response
        _same_origin(request)
        form = await _form(request)
        _check_csrf(request.cookies.get(_CSRF_COOKIE), form)
        token = form.get("token", "").strip()
        try:
            await anyio.to_thread.run_sync(
                lambda: authenticate(enc.log, f"Bearer {token}", now=ui.now())
            )
        except HttpError as exc:
            csrf = secrets.token_urlsafe(24)
            response = ui.render(
                "login.html", 401, identity=None, csrf=csrf, error=exc.message
            )
            ui.cookie(response, _CSRF_COOKIE, csrf, 3600)
            return response
        cookie, _ = await anyio.to_thread.run_sync(
            ui.sessions.create, hash_token(token), ui.now()
        )
        done = RedirectResponse("/ui/runs", status_code=303)
        ui.cookie(done, SESSION_COOKIE, cookie, _SESSION_SECONDS)
        done.delete_cookie(_CSRF_COOKIE, path="/ui")
        return done

    async def logout(request: Request, identity: Identity, _s: Session) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        await anyio.to_thread.run_sync(ui.sessions.drop, cookie)
        state.hub.publish(Recheck(identity.token_id))  # its open streams end now
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/ui")
        return response

    async def runs(_request: Request, identity: Identity, session: Session) -> Response:
        listed = await anyio.to_thread.run_sync(enc.log.list_runs, 200)
        return ui.render("runs.html", identity=identity, csrf=session.csrf, runs=listed)

    async def run(request: Request, identity: Identity, session: Session) -> Response:
        run_id = request.path_params["run_id"]
        record = await anyio.to_thread.run_sync(enc.log.get_run, run_id)
        if record is None:
            raise HttpError(404, "E-RUN-UNKNOWN", f"run {run_id!r} is not in the log")
        stored = await anyio.to_thread.run_sync(
            lambda: enc.log.events(run_id=run_id, limit=1000)
        )
        return ui.render(
            "run.html",
            identity=identity,
            csrf=session.csrf,
            run=record,
            events=[_row(s) for s in stored],
            last_seq=stored[-1].seq if stored else 0,
            can_kill=identity.role in GRANTS["kill"],
        )

    async def kill(request: Request, identity: Identity, _s: Session) -> Response:
        run_id = request.path_params["run_id"]
        reason = request.state.form.get("reason", "").strip()[:2000] or "killed"

        def work() -> None:
            state.run(run_id).kill(
                f"{reason} (killed by {identity.name})",
                rule="operator",
                by=identity.name,
            )

        await anyio.to_thread.run_sync(work)
        return RedirectResponse(f"/ui/runs/{run_id}", status_code=303)

    async def approvals(
        _request: Request,
        identity: Identity,
        session: Session,
        message: str | None = None,
        status: int = 200,
    ) -> Response:
        listed = await anyio.to_thread.run_sync(enc.approvals.list)
        pending = []
        for a in listed:
            if a.status != "pending":
                continue
            decisions = await anyio.to_thread.run_sync(_decisions, enc.log, a.run_id)
            context = next(
                (
                    s.event.context_excerpt
                    for s in decisions
                    if isinstance(s.event, DecisionEvent)
                    and s.event.approval_id == a.approval_id
                ),
                "",
            )
            pending.append(
                {
                    "approval": a,
                    "args": json.dumps(a.args, indent=2, sort_keys=True),
                    "context": context,
                    "expires": _when(a.expires_at),
                }
            )
        decided = [a for a in listed if a.status != "pending"][-50:]
        return ui.render(
            "approvals.html",
            status,
            identity=identity,
            csrf=session.csrf,
            pending=pending,
            decided=decided,
            can_decide=identity.role in GRANTS["decide"],
            message=message,
            failed=status >= 400,  # noqa: PLR2004 -- HTTP's error range
        )

    async def decide(
        request: Request, identity: Identity, session: Session
    ) -> Response:
        approval_id = request.path_params["approval_id"]
        form = request.state.form
        choice = form.get("decision")
        if choice not in ("approve", "deny"):
            raise HttpError(400, "E-REQUEST-FORM", "decision must be approve or deny")
        reason = form.get("reason", "").strip()[:2000] or None
        act = enc.approvals.approve if choice == "approve" else enc.approvals.deny
        try:
            await anyio.to_thread.run_sync(
                lambda: act(approval_id, by=identity.name, reason=reason)
            )
        except EnclosureError as exc:
            text = f"{exc.code}: {exc.message}"
            return await approvals(request, identity, session, text, 409)
        done = "approved" if choice == "approve" else "denied"
        return await approvals(request, identity, session, f"{approval_id} {done}")

    async def audit(
        _request: Request, identity: Identity, session: Session
    ) -> Response:
        report = await anyio.to_thread.run_sync(enc.log.verify)
        return ui.render(
            "audit.html", identity=identity, csrf=session.csrf, report=report
        )

    async def events(request: Request, identity: Identity, _s: Session) -> Response:
        async def alive() -> bool:  # logged out or its token revoked: the end
            return await ui.who(request) is not None

        ctx = Ctx(request, state, identity, None)
        response: Response = await stream_events(ctx, alive)
        return response

    async def home(_request: Request) -> Response:
        return RedirectResponse("/ui/runs", status_code=303)

    return [
        Route("/ui", home, methods=["GET"]),
        Route("/ui/login", login, methods=["GET", "POST"]),
        Route("/ui/logout", page("read", logout), methods=["POST"]),
        Route("/ui/runs", page("read", runs), methods=["GET"]),
        Route("/ui/runs/{run_id}", page("read", run), methods=["GET"]),
        Route("/ui/runs/{run_id}/kill", page("kill", kill), methods=["POST"]),
        Route("/ui/approvals", page("read", approvals), methods=["GET"]),
        Route(
            "/ui/approvals/{approval_id}/decide",
            page("decide", decide),
            methods=["POST"],
        ),
        Route("/ui/audit", page("read", audit), methods=["GET"]),
        Route("/ui/events", page("read", events), methods=["GET"]),
    ]
