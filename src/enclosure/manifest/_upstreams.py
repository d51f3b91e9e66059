"""The ``upstreams`` section: MCP servers the gateway puts behind the enclosure.

An upstream is started by ``command`` (stdio, inside the run's sandbox, with the
manifest's caps and its network through the egress proxy) or reached at ``url``
(streamable HTTP, from the gateway's own process). Its tools are offered only when
``tools`` declares them; its resources and prompts pass through only when
``resources`` and ``prompts`` say so. This module only describes; the gateway
enforces.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from enclosure.manifest._compute import Seconds, _check_env_name

__all__ = ["UpstreamSpec"]

_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _pattern_list(value: Any) -> Any:
    """``true`` means every one, ``false`` none; a string is a one-item list."""
    if value is True:
        return ["*"]
    if value is False or value is None:
        return []
    return [value] if isinstance(value, str) else value


Patterns = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=1024)]],
    BeforeValidator(_pattern_list, json_schema_input_type=bool | str | list[str]),
]


class UpstreamSpec(_Strict):
    """One MCP server behind the gateway."""

    command: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=4096)]],
            Field(min_length=1, max_length=256),
        ]
        | None
    ) = None
    """argv of a stdio server, started inside the run's sandbox."""
    url: Annotated[str, Field(max_length=2048)] | None = None
    """``http(s)://`` endpoint of a streamable HTTP server."""
    sandbox: Literal["bubblewrap", "none"] | None = None
    """For a ``command``: ``none`` runs it on the host, unisolated (caps still
    apply, and each start logs a warning); default: ``compute.backend``."""
    cwd: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    """Working directory of a ``command`` (as the sandbox sees it)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Variables set for a ``command`` on top of the sandbox's environment."""
    timeout: Seconds | None = None
    """Longest wait for one request (start included); default ``compute.wall_time``."""
    resources: Patterns = Field(default_factory=list)
    """Resource URIs passed through (globs; ``true`` for all). None by default."""
    prompts: Patterns = Field(default_factory=list)
    """Prompt names passed through (globs; ``true`` for all). None by default."""

    @model_validator(mode="after")
    def _one_way_to_reach(self) -> Self:
        if (self.command is None) == (self.url is None):
            raise PydanticCustomError(
                "E-MANIFEST-VALUE",
                "an upstream has either a 'command' (stdio) or a 'url' (HTTP)",
            )
        if self.url is not None:
            if not _URL.match(self.url):
                raise PydanticCustomError(
                    "E-MANIFEST-VALUE",
                    "url '{url}' is not an http:// or https:// URL",
                    {"url": self.url},
                )
            if self.sandbox or self.cwd or self.env:
                raise PydanticCustomError(
                    "E-MANIFEST-VALUE",
                    "'sandbox', 'cwd' and 'env' apply to a 'command' upstream only",
                )
        for name in self.env:
            _check_env_name(name)
        return self

    def allows_resource(self, uri: str) -> bool:
        """Whether ``resources`` lets ``uri`` through."""
        return any(fnmatch.fnmatchcase(uri, p) for p in self.resources)

    def allows_prompt(self, name: str) -> bool:
        """Whether ``prompts`` lets the prompt called ``name`` through."""
        return any(fnmatch.fnmatchcase(name, p) for p in self.prompts)
