"""The Starlette application: routes from ``_api``, errors as coded JSON, lifespan.

``create_app(enc)`` wires the facade's decision log to a live-event hub (and, through
the ``Watcher``, what other processes store in the same database), builds a
route per ``Endpoint``, serves ``/openapi.json`` and ``/api/health`` without a
token, and sweeps expired approvals (each becomes a denial with an audit event)
every ``sweep_seconds``. Every exception maps to a 4xx/503 JSON body; anything
unexpected is logged (without request data) and answered 500 ``E-INTERNAL``.

Must not know: SQL, or how calls are decided.
"""

from __future__ import annotations

import contextlib
import logging
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Route

from enclosure.errors import EnclosureError
from enclosure.server._api import ROUTES, Ctx, Endpoint, State, endpoint_app
from enclosure.server._auth import authenticate
from enclosure.server._errors import HttpError, error_response, from_enclosure_error
from enclosure.server._hosts import HostCheck
from enclosure.server._hub import Hub
from enclosure.server._openapi import openapi
from enclosure.server._sse import stream_events
from enclosure.server._ui import ui_routes
from enclosure.server._watch import Watcher

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from starlette.requests import Request
    from starlette.responses import Response

    from enclosure import Enclosure
    from enclosure.server._notify import Notifier

__all__ = ["ALL_ROUTES", "create_app"]

logger = logging.getLogger("enclosure")


async def live_events(ctx: Ctx) -> Any:
    """``GET /api/events``; the stream ends once its token is revoked or expired."""
    enc = ctx.state.enc
    header = ctx.request.headers.get("authorization")

    def still_valid() -> bool:
        try:
            authenticate(enc.log, header, now=enc.clock.time())
        except HttpError:
            return False
        return True

    async def alive() -> bool:
        return await anyio.to_thread.run_sync(still_valid)

    return await stream_events(ctx, alive)


ALL_ROUTES: tuple[Endpoint, ...] = (
    *ROUTES,
    Endpoint(
        "GET",
        "/api/events",
        "read",
        live_events,
        "Live events (Server-Sent Events)",
        stream=True,
    ),
)


def create_app(
    enc: Enclosure,
    *,
    hub: Hub | None = None,
    sweep_seconds: float | None = 5.0,
    notifier: Notifier | None = None,
    secure_cookies: bool = True,
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """The server for ``enc``; its decision log feeds the live events.

    Args:
        enc: the facade; the server decides nothing itself.
        hub: the live-event hub (tests pass one to close streams); a new one else.
        sweep_seconds: how often to expire overdue approvals; ``None`` for never
            (tests move a fake clock and list approvals instead).
        notifier: posts new approvals, kills and alerts to webhooks.
        secure_cookies: mark the dashboard's cookies ``Secure`` (HTTPS only;
            browsers also accept them from ``http://localhost``).
        allowed_hosts: the ``Host`` names requests must carry (``HostCheck``,
            against DNS rebinding); ``None`` checks nothing (for an app mounted
            behind a proxy that checks them).
    """
    hub = hub or Hub()
    enc.log.subscribe(hub.observe)
    if notifier is not None:
        enc.log.subscribe(notifier.observe)
    state = State(enc, hub)
    document = openapi(ALL_ROUTES, version=version("enclosure"))

    async def health(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def schema(_request: Request) -> Response:
        return JSONResponse(document)

    routes = [
        Route("/api/health", health, methods=["GET"]),
        Route("/openapi.json", schema, methods=["GET"]),
    ]
    by_path: dict[str, dict[str, Any]] = {}
    for e in ALL_ROUTES:
        by_path.setdefault(e.path, {})[e.method] = endpoint_app(e, state)
    # One route per path, so a 405 lists every method the path has in ``Allow``.
    routes += [
        Route(path, _by_method(handlers), methods=list(handlers))
        for path, handlers in by_path.items()
    ]
    routes += ui_routes(state, secure_cookies=secure_cookies)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        watcher = Watcher(enc.log, hub)
        watcher.start()
        try:
            async with anyio.create_task_group() as tasks:
                if sweep_seconds is not None:
                    tasks.start_soon(_sweep, enc, sweep_seconds)
                try:
                    yield
                finally:
                    hub.close()
                    tasks.cancel_scope.cancel()
        finally:
            # Outside the cancelled task group (an await inside it would be
            # cancelled before it ran): the watcher must be stopped before the
            # log closes, and queued webhooks delivered.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(watcher.stop)
                if notifier is not None:
                    notifier.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HttpError: _http_error,
            EnclosureError: _enclosure_error,
            HTTPException: _starlette_error,
            Exception: _unexpected,
        },
    )
    app.router.redirect_slashes = False  # a stray slash is a coded 404, not a 307
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts)
    app.state.enclosure = state
    app.state.openapi = document
    return app


def _by_method(handlers: dict[str, Any]) -> Any:
    """One handler per method of a path (Starlette answers HEAD with GET's)."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        response: Response = await handlers[method](request)
        return response

    return dispatch


async def _sweep(enc: Enclosure, every: float) -> None:
    while True:
        await anyio.sleep(every)
        try:
            await anyio.to_thread.run_sync(enc.approvals.expire)
        except EnclosureError:
            logger.warning("could not expire overdue approvals", exc_info=True)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)  # noqa: S101 -- registered for HttpError
    return error_response(exc.status, exc.code, exc.message)


async def _enclosure_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EnclosureError)  # noqa: S101 -- registered for it
    return from_enclosure_error(exc)


async def _starlette_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 -- registered for it
    codes = {404: "E-HTTP-NOT-FOUND", 405: "E-HTTP-METHOD"}
    code = codes.get(exc.status_code, f"E-HTTP-{exc.status_code}")
    response = error_response(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})  # a 405 says what is Allowed
    return response


async def _unexpected(_request: Request, exc: Exception) -> Any:
    logger.error("unexpected %s in the server", type(exc).__name__)
    return error_response(500, "E-INTERNAL", "unexpected server error")
