"""Which upstream tool each manifest tool is, and which of them may be offered.

A manifest tool is an upstream's tool when it says ``upstream: NAME`` (the tool of
the same name there, or ``X`` for a tool written ``NAME.X``), when its name is
``NAME.X`` for an upstream ``NAME``, or, having no handler or command of its own,
when exactly one upstream offers a tool of that name. When several do, the names
collide and the tool is withheld until the manifest says which one it means
(``NAME.X``): nothing is routed to a server by accident.

Pinning: every offered tool is hashed over its name, description and input
schema. The first hash seen is pinned in the decision log; a later, different
hash withholds the tool (a "rug pull", or an injected description) until the
manifest's ``pin:`` names the new hash. Must not know: sessions, processes, the
policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from enclosure._json import sha256_json

if TYPE_CHECKING:
    from collections.abc import Mapping

    import mcp_types as types

    from enclosure.gateway._upstream import Listing
    from enclosure.manifest import Manifest

__all__ = ["Binding", "Entry", "PinVerdict", "bindings", "offered", "tool_sha256"]

PinVerdict = Literal["pinned", "same", "changed", "repinned"]


def tool_sha256(tool: types.Tool) -> str:
    """SHA-256 over the tool's name, description and input schema (canonical JSON)."""
    return sha256_json(
        {
            "name": tool.name,
            "description": tool.description or "",
            "inputSchema": tool.input_schema,
        }
    )


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a manifest tool lives: an upstream (None: any single one) and a name."""

    upstream: str | None
    remote: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One manifest tool as the gateway may offer it."""

    name: str
    """The manifest's (and the client's) name for it."""
    upstream: str
    remote: str
    """Its name on the upstream."""
    tool: types.Tool
    """As the upstream describes it, under ``name``."""
    sha256: str
    withheld: str | None = None
    """Why it is not offered (and calls are refused), if it is not."""
    code: str = "E-DENIED"


def bindings(manifest: Manifest) -> dict[str, Binding]:
    """Every manifest tool that is (or may be) an upstream's tool."""
    found: dict[str, Binding] = {}
    if not manifest.upstreams:
        return found
    for name, spec in manifest.tools.items():
        if spec.handler is not None or spec.command is not None:
            continue
        head, dot, rest = name.partition(".")
        if spec.upstream is not None:
            prefix = spec.upstream + "."
            remote = name.removeprefix(prefix) if name.startswith(prefix) else name
            found[name] = Binding(spec.upstream, remote)
        elif dot and head in manifest.upstreams:
            found[name] = Binding(head, rest)
        else:
            found[name] = Binding(None, name)
    return found


def offered(
    manifest: Manifest,
    listings: Mapping[str, Listing],
) -> dict[str, Entry]:
    """Each manifest tool some upstream offers now, resolved and unpinned.

    Tools with colliding names come back withheld (``E-TOOL-AMBIGUOUS``). Pins
    are checked by the caller, which has the log.
    """
    entries: dict[str, Entry] = {}
    for name, binding in bindings(manifest).items():
        if binding.upstream is not None:
            candidates = [binding.upstream]
        else:
            candidates = [u for u in manifest.upstreams if u in listings]
        hits = [
            u
            for u in candidates
            if binding.remote in getattr(listings.get(u), "tools", {})
        ]
        if not hits:
            continue
        upstream = hits[0]
        tool = listings[upstream].tools[binding.remote]
        entry = Entry(
            name=name,
            upstream=upstream,
            remote=binding.remote,
            tool=tool.model_copy(update={"name": name}),
            sha256=tool_sha256(tool),
        )
        if len(hits) > 1:
            entry = withhold(
                entry,
                f"upstreams {', '.join(hits)} all offer {binding.remote!r}; declare "
                f"the one meant as {hits[0]}.{binding.remote} (or set 'upstream')",
                "E-TOOL-AMBIGUOUS",
            )
        entries[name] = entry
    return entries


def withhold(entry: Entry, reason: str, code: str) -> Entry:
    """``entry``, withheld for ``reason``."""
    return Entry(
        entry.name,
        entry.upstream,
        entry.remote,
        entry.tool,
        entry.sha256,
        withheld=reason,
        code=code,
    )
