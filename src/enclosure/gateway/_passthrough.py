"""Resources and prompts: passed through only where the manifest allows them.

An upstream's ``resources`` globs name the URIs (and URI templates) that pass;
its ``prompts`` globs the prompt names. Nothing else is listed, and reading or
getting anything else is a JSON-RPC error (``invalid params``) naming the manifest
key to change; an upstream that allows neither adds no handler, so the gateway
does not even claim the capability. Prompt names that two upstreams share are
offered as ``upstream.name``.

Each read and each get is a decision event, as a tool call is: ``resources/read``
(args ``uri``) or ``prompts/get`` (``name`` and ``arguments``), refused
(``E-MCP-NOT-ALLOWED``, rule ``upstreams.resources`` or ``upstreams.prompts``) or
admitted by the upstream's entry (``upstreams.<name>.resources``), committed before
the upstream is asked, then its result event. A killed run reads nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError

from enclosure.errors import UpstreamError

T = TypeVar("T", bound="BaseModel")

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from mcp.server.context import ServerRequestContext
    from pydantic import BaseModel

    from enclosure.gateway._gateway import Gateway
    from enclosure.gateway._upstream import Upstream

__all__ = ["passthrough_handlers"]


def passthrough_handlers(gateway: Gateway) -> dict[str, Any]:
    """The SDK server's ``on_*`` handlers for what the manifest lets through."""
    upstreams = gateway.upstreams
    handlers: dict[str, Any] = {}
    if any(u.spec.resources for u in upstreams.values()):
        handlers |= _resource_handlers(gateway)
    if any(u.spec.prompts for u in upstreams.values()):
        handlers |= _prompt_handlers(gateway)
    return handlers


def _refused(gateway: Gateway, what: str, args: dict[str, Any], why: str) -> MCPError:
    """Log the refusal as a decision; the error to raise."""
    kind = what.split("/", 1)[0]
    gateway.run.refuse(
        what,
        args,
        rule=f"upstreams.{kind}",
        reason=why,
        code="E-MCP-NOT-ALLOWED",
        context={"via": "mcp"},
    )
    return MCPError(types.INVALID_PARAMS, f"E-MCP-NOT-ALLOWED: {why}")


async def _admitted(
    gateway: Gateway,
    upstream: Upstream,
    what: str,
    args: dict[str, Any],
    fetch: Callable[[], Awaitable[T]],
) -> T:
    """Log the decision, ask the upstream, log the result; the upstream's answer."""
    kind = what.split("/", 1)[0]
    rule = f"upstreams.{upstream.name}.{kind}"
    run = gateway.run
    decided = run.admit(
        what,
        args,
        rule=rule,
        reason=f"allowed by {rule} in the manifest",
        context={"via": "mcp", "upstream": upstream.name},
    )
    if decided.status != "dispatched" or decided.receipt is None:
        error = decided.error
        message = f"{error.code}: {error.message}" if error else decided.status
        raise MCPError(types.INTERNAL_ERROR, message)
    call_id = decided.receipt.call_id
    try:
        answer = await fetch()
    except UpstreamError as exc:
        run.record_result(call_id, error=exc.message, code=exc.code)
        raise MCPError(types.INTERNAL_ERROR, f"{exc.code}: {exc.message}") from None
    except anyio.get_cancelled_exc_class():
        run.record_result(
            call_id,
            error="the MCP client cancelled the request or went away",
            code="E-MCP-CANCELLED",
        )
        raise
    logged = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
    run.record_result(call_id, value=logged)  # only its digest is logged
    return answer


def _resource_handlers(gateway: Gateway) -> dict[str, Any]:
    def allowed() -> list[Upstream]:
        return [u for u in gateway.upstreams.values() if u.spec.resources and u.up]

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        del ctx, params
        found = [
            r
            for u in allowed()
            for r in u.listing.resources
            if u.spec.allows_resource(str(r.uri))
        ]
        return types.ListResourcesResult(resources=found)

    async def list_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        del ctx, params
        found = [
            t
            for u in allowed()
            for t in u.listing.templates
            if u.spec.allows_resource(t.uri_template)
        ]
        return types.ListResourceTemplatesResult(resource_templates=found)

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        del ctx
        uri = str(params.uri)
        able = [u for u in gateway.upstreams.values() if u.spec.allows_resource(uri)]
        listed = [
            u for u in able if any(str(r.uri) == uri for r in u.listing.resources)
        ]
        pick = (listed or able)[:1]
        args = {"uri": uri}
        if not pick:
            msg = f"resource {uri!r} is not allowed by any upstream's 'resources'"
            raise _refused(gateway, "resources/read", args, msg)
        upstream = pick[0]
        return await _admitted(
            gateway,
            upstream,
            "resources/read",
            args,
            lambda: upstream.read_resource(uri),
        )

    return {
        "on_list_resources": list_resources,
        "on_list_resource_templates": list_templates,
        "on_read_resource": read_resource,
    }


def _prompt_names(gateway: Gateway) -> dict[str, tuple[Upstream, str]]:
    """Offered prompt name -> (upstream, its name there)."""
    owners: dict[str, list[Upstream]] = {}
    for u in gateway.upstreams.values():
        if not (u.spec.prompts and u.up):
            continue
        for name in u.listing.prompts:
            if u.spec.allows_prompt(name):
                owners.setdefault(name, []).append(u)
    names: dict[str, tuple[Upstream, str]] = {}
    for name, ups in owners.items():
        if len(ups) == 1:
            names[name] = (ups[0], name)
        else:
            names.update({f"{u.name}.{name}": (u, name) for u in ups})
    return names


def _prompt_handlers(gateway: Gateway) -> dict[str, Any]:
    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        del ctx, params
        prompts = [
            up.listing.prompts[remote].model_copy(update={"name": name})
            for name, (up, remote) in _prompt_names(gateway).items()
        ]
        return types.ListPromptsResult(prompts=prompts)

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        del ctx
        found = _prompt_names(gateway).get(params.name)
        args: dict[str, Any] = {"name": params.name, "arguments": params.arguments}
        if found is None:
            msg = f"prompt {params.name!r} is not allowed by any upstream's 'prompts'"
            raise _refused(gateway, "prompts/get", args, msg)
        upstream, remote = found
        return await _admitted(
            gateway,
            upstream,
            "prompts/get",
            args,
            lambda: upstream.get_prompt(remote, params.arguments),
        )

    return {"on_list_prompts": list_prompts, "on_get_prompt": get_prompt}
