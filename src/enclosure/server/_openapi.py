"""The OpenAPI 3.1 document, built from the same route table the server serves.

Request bodies are the pydantic models' own JSON Schemas; every route documents
its coded error responses. Served at ``/openapi.json`` without authentication.

Must not know: how routes are implemented.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from enclosure.server._api import Endpoint

__all__ = ["ERROR_SCHEMA", "openapi"]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "pattern": "^E-[A-Z0-9-]+$"},
                "message": {"type": "string"},
            },
        }
    },
}
_ERRORS = {
    "400": "Malformed request (E-REQUEST-JSON, E-REQUEST-QUERY, E-USAGE...)",
    "401": "No valid token (E-AUTH-MISSING, E-AUTH-INVALID, E-AUTH-EXPIRED...)",
    "403": "The role may not do this (E-AUTH-ROLE, E-APPROVAL-SELF...)",
    "404": "Unknown run, approval or token",
    "409": "The state forbids it (E-APPROVAL-DECIDED, E-APPROVAL-EXPIRED...)",
    "413": "The body is too large (E-REQUEST-TOO-LARGE)",
    "422": "The body does not match the schema (E-REQUEST-INVALID)",
    "503": "The decision log is unavailable (E-AUDIT-UNAVAILABLE)",
}
_INT = {"type": "integer", "minimum": 0}
_STATUSES = ["pending", "approved", "denied", "expired", "consumed"]
_QUERY: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "/api/runs": [("limit", {**_INT, "maximum": 1000})],
    "/api/runs/{run_id}/events": [
        ("after", {**_INT, "maximum": 2**62}),
        ("limit", {**_INT, "maximum": 1000}),
    ],
    "/api/approvals": [
        ("status", {"type": "string", "enum": _STATUSES}),
        ("run_id", {"type": "string"}),
    ],
    "/api/approvals/{approval_id}/wait": [("timeout", {**_INT, "maximum": 300})],
    "/api/events": [
        ("after", {**_INT, "maximum": 2**62}),
        ("run_id", {"type": "string"}),
    ],
}
"""Query parameters of the GET routes, with the bounds the handlers enforce."""


_REF = "#/components/schemas/{model}"


def openapi(routes: Iterable[Endpoint], *, version: str) -> dict[str, Any]:
    """The document for ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    shared: dict[str, Any] = {}  # models a body refers to: components/schemas
    for route in routes:
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        if route.method == "GET":
            params += [
                {"name": name, "in": "query", "schema": schema}
                for name, schema in _QUERY.get(route.path, [])
            ]
        content = (
            {"text/event-stream": {"schema": {"type": "string"}}}
            if route.stream
            else {"application/json": {"schema": {"type": "object"}}}
        )
        responses: dict[str, Any] = {
            str(route.status): {"description": route.summary, "content": content}
        }
        for status, text in _ERRORS.items():
            responses[status] = {
                "description": text,
                "content": {"application/json": {"schema": ERROR_SCHEMA}},
            }
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.method.lower() + re.sub(r"\W+", "_", route.path),
            "parameters": params,
            "responses": responses,
            "security": [{"token": []}],
            "x-role-permission": route.permission,
        }
        if route.body is not None:
            schema = route.body.model_json_schema(ref_template=_REF)
            shared.update(schema.pop("$defs", {}))
            body: dict[str, Any] = {"application/json": {"schema": schema}}
            if route.yaml:
                body["application/yaml"] = {"schema": {"type": "string"}}
            operation["requestBody"] = {"required": True, "content": body}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Enclosure control plane", "version": version},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(shared.items())),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }
