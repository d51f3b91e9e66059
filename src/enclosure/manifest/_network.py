"""The ``network`` and ``credentials`` sections: where sandboxed code may connect.

Egress is denied by default. Each ``network.rules`` entry opens one host (exact, or
``*.example.com`` for its subdomains, never the apex), on some ports, optionally
for some methods and path globs only, to some principals: tool names, or
``agent`` for the program ``enclosure run`` starts. A rule that names methods,
paths or a credential needs to see inside HTTPS, so the proxy terminates TLS for
it with the run's own CA; a host-only rule gets a plain CONNECT tunnel.

``credentials`` says where a secret comes from and how the proxy puts it on an
outgoing request. Secrets are never in the manifest itself, and never reach the
sandbox: the proxy injects them on the way out and strips them on the way back.
This module only describes; ``enclosure.egress`` and ``enclosure.identity`` enforce.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from enclosure.manifest._compute import Seconds, Size

__all__ = [
    "AGENT",
    "CredentialSpec",
    "Injection",
    "NetworkRule",
    "NetworkSpec",
    "host_matches",
]

AGENT = "agent"
"""The principal name of the program ``enclosure run`` starts (not a tool)."""

_NAME = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_METHOD = re.compile(r"^[A-Z]{1,16}$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_MAX_NAME = 253
_SOURCE = re.compile(r"^(env|file|command|plugin|token):(.+)$", re.DOTALL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_host(value: str) -> str:
    """``api.example.com``, ``*.example.com``, an IP literal, or ``[::1]``."""
    host = value.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    name = host.removeprefix("*.")
    labels = name.split(".")
    if len(name) > _MAX_NAME or not all(_LABEL.match(label) for label in labels):
        raise PydanticCustomError(
            "E-MANIFEST-VALUE",
            "'{host}' is not a host name; write api.example.com, *.example.com "
            "(subdomains only) or an IP address",
            {"host": value},
        )
    if host.startswith("*.") and len(labels) < 2:  # noqa: PLR2004 -- "*.com" is too wide
        raise PydanticCustomError(
            "E-MANIFEST-VALUE",
            "'{host}' would match a whole top-level domain",
            {"host": value},
        )
    return host


def host_matches(pattern: str, host: str) -> bool:
    """Whether ``host`` (normalised, lower case) is what ``pattern`` names.

    >>> host_matches("*.example.com", "api.example.com")
    True
    >>> host_matches("*.example.com", "example.com")
    False
    """
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _upper_list(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [v.upper() if isinstance(v, str) else v for v in value]
    return value


def _str_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _int_list(value: Any) -> Any:
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


Port = Annotated[int, Field(ge=1, le=65535)]
Method = Annotated[str, Field(pattern=_METHOD.pattern)]
PathGlob = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^/")]


class NetworkRule(_Strict):
    """One host that may be reached, by whom, and how."""

    name: Annotated[str, Field(pattern=_NAME)] | None = None
    """Named in decisions, logs and 403 bodies; ``rule-N`` (1-based) otherwise."""
    host: Annotated[str, BeforeValidator(_check_host)]
    ports: Annotated[
        list[Port],
        BeforeValidator(_int_list, json_schema_input_type=int | list[int]),
        Field(min_length=1),
    ] = Field(default_factory=lambda: [443])
    methods: Annotated[
        list[Method],
        BeforeValidator(_upper_list, json_schema_input_type=str | list[str]),
    ] = Field(default_factory=list)
    """Allowed HTTP methods; every method when empty."""
    paths: Annotated[
        list[PathGlob],
        BeforeValidator(_str_list, json_schema_input_type=str | list[str]),
    ] = Field(default_factory=list)
    """Path globs (``/repos/*/issues``; ``*`` stays within one segment, ``**``
    crosses them); every path when empty. The query string is not matched."""
    tools: Annotated[
        list[Annotated[str, Field(pattern=_NAME)]],
        BeforeValidator(_str_list, json_schema_input_type=str | list[str]),
    ] = Field(default_factory=list)
    """Tool names, or ``agent``; every principal when empty."""
    rate: str | None = None
    """At most this many requests (``30/minute``) through this rule, per run."""
    credential: Annotated[str, Field(pattern=_NAME)] | None = None
    """A ``credentials`` entry the proxy injects into requests this rule allows."""
    allow_private: bool = False
    """Let this host resolve to a private, loopback, link-local or metadata address
    (SSRF protection refuses those otherwise). IP-literal hosts need it too when the
    address is not public."""

    @field_validator("rate")
    @classmethod
    def _check_rate(cls, value: str | None) -> str | None:
        if value is not None:
            from enclosure.manifest._models import parse_rate  # noqa: PLC0415

            parse_rate(value)
        return value

    @property
    def inspects(self) -> bool:
        """Whether the proxy must see the request line: methods, paths or injection."""
        return bool(self.methods or self.paths or self.credential)

    @property
    def is_ip(self) -> bool:
        """Whether ``host`` is an IP literal rather than a name."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


class NetworkSpec(_Strict):
    """Default-deny egress: the rules, size caps and what gets logged."""

    rules: list[NetworkRule] = Field(default_factory=list)
    max_request_body: Size = 10 * 1024**2
    max_response_body: Size = 50 * 1024**2
    log_bodies: bool = False
    """Log request and response bodies (after redaction, capped) as well as heads."""
    log_body_bytes: Size = 4096
    connect_timeout: Seconds = 10.0
    idle_timeout: Seconds = 60.0

    def rule_name(self, index: int) -> str:
        rule = self.rules[index]
        return rule.name or f"rule-{index + 1}"


class Injection(_Strict):
    """Where the proxy puts the secret on an outgoing request (exactly one way)."""

    header: Annotated[str, Field(pattern=_HEADER.pattern)] | None = None
    format: str = "{secret}"
    """For ``header``: the value, ``{secret}`` replaced (``Bearer {secret}``)."""
    basic_username: str | None = None
    """HTTP basic auth with this user name and the secret as the password."""
    query: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] | None = None
    """A query parameter with this name."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        ways = [self.header, self.basic_username, self.query]
        if sum(w is not None for w in ways) != 1:
            raise PydanticCustomError(
                "E-MANIFEST-VALUE",
                "inject says how the secret goes out: exactly one of header, "
                "basic_username or query",
            )
        if self.header is not None and "{secret}" not in self.format:
            raise PydanticCustomError(
                "E-MANIFEST-VALUE", "inject.format must contain {{secret}}"
            )
        return self


class CredentialSpec(_Strict):
    """A secret the identity broker fetches just in time and the proxy injects."""

    source: str
    """``env:NAME``, ``file:/path``, ``command:argv…`` (stdout, trimmed),
    ``plugin:module:object`` (a ``SecretSource``), or ``token:AUDIENCE`` (a
    run-scoped token the broker mints per request)."""
    inject: Injection
    ttl: Seconds = 900.0
    """How long a fetched secret is reused before it is fetched again."""
    tools: Annotated[
        list[Annotated[str, Field(pattern=_NAME)]],
        BeforeValidator(_str_list, json_schema_input_type=str | list[str]),
    ] = Field(default_factory=list)
    """Principals whose requests may carry it; those of its rules when empty."""

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        m = _SOURCE.match(value)
        if m is None or not m.group(2).strip():
            raise PydanticCustomError(
                "E-MANIFEST-VALUE",
                "credential source must be env:NAME, file:PATH, command:ARGV, "
                "plugin:module:object or token:AUDIENCE",
            )
        return value

    @property
    def kind(self) -> Literal["env", "file", "command", "plugin", "token"]:
        m = _SOURCE.match(self.source)
        assert m is not None  # noqa: S101 -- validated
        return m.group(1)  # type: ignore[return-value]

    @property
    def target(self) -> str:
        m = _SOURCE.match(self.source)
        assert m is not None  # noqa: S101 -- validated
        return m.group(2).strip()
