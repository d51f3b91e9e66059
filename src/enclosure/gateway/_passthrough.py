"""Resources and prompts: passed through only where the manifest allows them.

An upstream's ``resources`` globs name the URIs (and URI templates) that pass;
its ``prompts`` globs the prompt names. Nothing else is listed, and reading or
getting anything else is a JSON-RPC error (``invalid params``) naming the manifest
key to change; an upstream that allows neither adds no handler, so the gateway
does not even claim the capability. Prompt names that two upstreams share are
offered as ``upstream.name``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from enclosure.errors import UpstreamError

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

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


def _refused(what: str) -> MCPError:
    return MCPError(types.INVALID_PARAMS, f"E-MCP-NOT-ALLOWED: {what}")


def _upstream_failed(exc: UpstreamError) -> MCPError:
    return MCPError(types.INTERNAL_ERROR, f"{exc.code}: {exc.message}")


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
        if not pick:
            msg = f"resource {uri!r} is not allowed by any upstream's 'resources'"
            raise _refused(msg)
        try:
            return await pick[0].read_resource(uri)
        except UpstreamError as exc:
            raise _upstream_failed(exc) from None

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
        if found is None:
            msg = f"prompt {params.name!r} is not allowed by any upstream's 'prompts'"
            raise _refused(msg)
        upstream, remote = found
        try:
            return await upstream.get_prompt(remote, params.arguments)
        except UpstreamError as exc:
            raise _upstream_failed(exc) from None

    return {"on_list_prompts": list_prompts, "on_get_prompt": get_prompt}
