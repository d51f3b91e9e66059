"""The tool router: finds a call's handler, validates, runs it through interceptors.

Interceptors wrap the handler the way Starlette middleware wraps an app: each is
called with the call and the next step, so a later one sits closer to the handler.
The router decides nothing; the run asks the policy first and only then routes.
It imports no backend: sandboxes and MCP upstreams plug in as handlers.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from enclosure.errors import UsageError
from enclosure.models import ToolCall
from enclosure.router._schema import (
    ArgsValidator,
    Checked,
    SchemaProblem,
    ValueValidator,
)

if TYPE_CHECKING:
    from enclosure.manifest import Manifest, ToolSpec

__all__ = [
    "AsyncInterceptor",
    "HandlerProblem",
    "Interceptor",
    "Route",
    "ToolRouter",
    "import_callable",
]

Next = Callable[[ToolCall], Any]
Interceptor = Callable[[ToolCall, Next], Any]
"""``(call, call_next) -> result``: observe, change or refuse a call."""
AsyncNext = Callable[[ToolCall], Awaitable[Any]]
AsyncInterceptor = Callable[[ToolCall, AsyncNext], Awaitable[Any]]


class HandlerProblem(ValueError):
    """A ``module:function`` reference cannot be imported or is not callable."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


def import_callable(ref: str) -> Callable[..., Any]:
    """Import ``module:attr.path`` and return the callable.

    Raises:
        HandlerProblem: the module or attribute is missing, or is not callable.
    """
    module_name, _, attr_path = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"cannot import module {module_name!r} for handler {ref!r}: {exc}"
        raise HandlerProblem(msg) from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            msg = f"module {module_name!r} has no attribute {attr_path!r}"
            raise HandlerProblem(msg) from None
    if not callable(obj):
        msg = f"handler {ref!r} is not callable"
        raise HandlerProblem(msg)
    return obj  # type: ignore[no-any-return]  # callable() narrowed it


@dataclass
class Route:
    """Everything the router knows about one tool."""

    name: str
    spec: ToolSpec
    handler: Callable[..., Any] | None = None
    simulator: Callable[..., Any] | None = None
    args: ArgsValidator = field(default_factory=ArgsValidator)
    result: ValueValidator = field(default_factory=ValueValidator)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)


class ToolRouter:
    """Routes calls for the tools a manifest declares."""

    def __init__(self, manifest: Manifest, *, import_handlers: bool = True) -> None:
        """Build routes for every declared tool and import manifest handlers.

        With ``import_handlers=False`` only the schemas are checked (``enclosure
        check`` runs where the agent's code may not be importable).

        Raises:
            SchemaProblem: with ``loc`` in ``args[1]`` when a schema is invalid.
            HandlerProblem: a manifest ``handler``/``simulator`` cannot be imported.
        """
        self._routes: dict[str, Route] = {}
        self._interceptors: list[Interceptor] = []
        self._async_interceptors: list[AsyncInterceptor] = []
        for name, spec in manifest.tools.items():
            handler = simulator = None
            if import_handlers:
                handler = _load(spec.handler, ("tools", name, "handler"))
                simulator = _load(spec.simulator, ("tools", name, "simulator"))
            route = Route(name, spec, handler, simulator)
            self._routes[name] = route
            self._build_validators(route)

    @staticmethod
    def _build_validators(route: Route) -> None:
        try:
            route.args = ArgsValidator(route.spec.input_schema, route.handler)
        except SchemaProblem as exc:
            raise SchemaProblem(
                str(exc), ("tools", route.name, "input_schema")
            ) from None
        try:
            route.result = ValueValidator(route.spec.output_schema, route.handler)
        except SchemaProblem as exc:
            loc = ("tools", route.name, "output_schema")
            raise SchemaProblem(str(exc), loc) from None

    def routes(self) -> list[Route]:
        """Every declared tool's route, in manifest order."""
        return list(self._routes.values())

    def route(self, name: str) -> Route | None:
        return self._routes.get(name)

    def register(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        simulator: bool = False,
    ) -> None:
        """Attach a handler (or a simulator) to a declared tool.

        Raises:
            UsageError: the tool is not declared in the manifest (``E-TOOL-UNDECLARED``)
                or already has a handler (``E-TOOL-DUPLICATE``).
        """
        route = self._routes.get(name)
        if route is None:
            msg = f"tool {name!r} is not declared in the manifest; declare it first"
            raise UsageError(msg, code="E-TOOL-UNDECLARED")
        if simulator:
            route.simulator = fn
            return
        if route.handler is not None or route.spec.command is not None:
            msg = f"tool {name!r} already has a handler (or runs a command)"
            raise UsageError(msg, code="E-TOOL-DUPLICATE")
        route.handler = fn
        self._build_validators(route)

    def use(self, interceptor: Interceptor) -> None:
        """Add an interceptor around every synchronous handler call."""
        self._interceptors.append(interceptor)

    def use_async(self, interceptor: AsyncInterceptor) -> None:
        """Add an interceptor around every handler call made through ``acall``."""
        self._async_interceptors.append(interceptor)

    def check_args(self, call: ToolCall) -> Checked:
        """Validate a call's arguments (an unknown tool passes: policy denies it)."""
        route = self._routes.get(call.tool)
        if route is None:
            return Checked(ok=True, value=call.args, errors=[])
        return route.args.check(call.args)

    def check_result(self, tool: str, value: Any) -> Checked:
        route = self._routes[tool]
        return route.result.check(value)

    def execute(
        self,
        call: ToolCall,
        *,
        command: Callable[[ToolCall], Any] | None = None,
        handler: Callable[..., Any] | None = None,
    ) -> Any:
        """Run the handler through the interceptors.

        ``command`` runs tools declared with a ``command`` (the run passes its
        sandbox runner); the router itself never starts a process. ``handler``
        replaces the registered handler for this one call (a framework's own
        tool function, guarded by an integration); a ``command`` tool ignores it.

        Raises:
            UsageError: no handler (``E-TOOL-NO-HANDLER``), or an async handler
                called synchronously (``E-TOOL-ASYNC``).
            Exception: whatever the handler raises, unchanged.
        """
        handler = self._live_handler(call.tool, command, handler, sync=True)

        def innermost(c: ToolCall) -> Any:
            if handler is None:
                assert command is not None  # noqa: S101 -- _handler_route checked
                return command(c)
            return handler(**c.args)

        step: Next = innermost
        for interceptor in reversed(self._interceptors):
            step = _bind(interceptor, step)
        return step(call)

    async def aexecute(
        self,
        call: ToolCall,
        *,
        command: Callable[[ToolCall], Any] | None = None,
        handler: Callable[..., Any] | None = None,
    ) -> Any:
        """Run the handler (async, or sync in a worker thread) through interceptors."""
        import anyio.to_thread  # noqa: PLC0415 -- only async callers pay for it

        handler = self._live_handler(call.tool, command, handler, sync=False)
        is_async = inspect.iscoroutinefunction(handler)

        async def innermost(c: ToolCall) -> Any:
            if handler is None:
                assert command is not None  # noqa: S101 -- _handler_route checked
                return await anyio.to_thread.run_sync(lambda: command(c))
            if is_async:
                return await handler(**c.args)
            return await anyio.to_thread.run_sync(lambda: handler(**c.args))

        step: AsyncNext = innermost
        for interceptor in reversed(self._async_interceptors):
            step = _abind(interceptor, step)
        return await step(call)

    def simulate(self, call: ToolCall) -> Any:
        """Run the tool's simulator, or return a preview of what would have run."""
        route = self._routes[call.tool]
        if route.simulator is not None:
            return route.simulator(**call.args)
        return {"simulated": True, "tool": call.tool, "would_call_with": call.args}

    def ensure_runnable(
        self,
        name: str,
        *,
        command: Callable[[ToolCall], Any] | None = None,
        handler: Callable[..., Any] | None = None,
        sync: bool = False,
    ) -> None:
        """Raise unless a live call to ``name`` has something to run, as ``execute``.

        A caller that must not spend anything first (an approval) asks this before.

        Raises:
            UsageError: ``E-TOOL-NO-HANDLER``, or ``E-TOOL-ASYNC`` (``sync``).
        """
        self._live_handler(name, command, handler, sync=sync)

    def _live_handler(
        self,
        name: str,
        command: Callable[[ToolCall], Any] | None,
        handler: Callable[..., Any] | None,
        *,
        sync: bool,
    ) -> Callable[..., Any] | None:
        """The handler a live call runs (``None``: its ``command``)."""
        route = self._handler_route(name, command, handler)
        chosen = handler if route.spec.command is None and handler else route.handler
        if sync and inspect.iscoroutinefunction(chosen):
            msg = f"tool {name!r} has an async handler; use acall()"
            raise UsageError(msg, code="E-TOOL-ASYNC")
        return chosen

    def _handler_route(
        self,
        name: str,
        command: Callable[[ToolCall], Any] | None,
        handler: Callable[..., Any] | None = None,
    ) -> Route:
        route = self._routes.get(name)
        if route is not None and route.spec.command is not None:
            if command is None:
                msg = f"tool {name!r} runs a command; call it through a run"
                raise UsageError(msg, code="E-TOOL-NO-HANDLER")
            return route
        if route is not None and handler is not None:
            return route
        if route is None or route.handler is None:
            msg = (
                f"tool {name!r} has no handler: set 'handler: module:function' in the "
                f"manifest or register one with @enc.tool({name!r})"
            )
            raise UsageError(msg, code="E-TOOL-NO-HANDLER")
        return route


def _load(ref: str | None, loc: tuple[str | int, ...]) -> Callable[..., Any] | None:
    if ref is None:
        return None
    try:
        return import_callable(ref)
    except HandlerProblem as exc:
        raise HandlerProblem(str(exc), loc) from None


def _bind(interceptor: Interceptor, nxt: Next) -> Next:
    return lambda c: interceptor(c, nxt)


def _abind(interceptor: AsyncInterceptor, nxt: AsyncNext) -> AsyncNext:
    return lambda c: interceptor(c, nxt)
