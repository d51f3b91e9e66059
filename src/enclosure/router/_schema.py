"""Argument and result validation: a manifest JSON Schema, or a handler's type hints.

A manifest schema is checked against its meta-schema once and compiled with
jsonschema-rs; remote ``$ref`` are never fetched. Without one, a pydantic model is
built from the handler's signature, so ``def send(to: str, n: int = 1)`` accepts
exactly ``{"to": ..., "n": ...}``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, NamedTuple, get_type_hints

import jsonschema_rs
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

if TYPE_CHECKING:
    from collections.abc import Callable

    from enclosure.types import JSONObject

__all__ = ["ArgsValidator", "Checked", "SchemaProblem", "ValueValidator"]

MAX_ERRORS = 5


class SchemaProblem(ValueError):
    """A declared schema is not a valid JSON Schema; ``loc`` is its manifest path."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


class Checked(NamedTuple):
    ok: bool
    value: Any
    """The value to use: coerced by pydantic, or unchanged for a JSON Schema."""
    errors: list[str]


def _no_remote(uri: str) -> Any:
    msg = f"remote schema {uri!r} is not fetched; inline it in the manifest"
    raise ValueError(msg)


def _compile_json_schema(schema: dict[str, Any]) -> Any:
    try:
        jsonschema_rs.meta.validate(schema)
        return jsonschema_rs.validator_for(schema, retriever=_no_remote)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
        first = str(exc).splitlines()[0]
        raise SchemaProblem(f"not a valid JSON Schema: {first}") from None
    except ValueError as exc:
        raise SchemaProblem(f"not a valid JSON Schema: {exc}") from None


def _json_errors(validator: Any, value: Any, *, quote: bool = True) -> list[str]:
    """Where ``value`` fails and why; ``quote=False`` names the failed keyword only.

    A message such as ``"postgres://..." is not of type "object"`` quotes the
    value: fine for the model's own arguments, never for a withheld result.
    """
    errors = []
    for error in validator.iter_errors(value):
        path = "/".join(str(p) for p in error.instance_path) or "(root)"
        if quote:
            errors.append(f"{path}: {error.message}")
        else:
            keyword = "/".join(str(p) for p in error.schema_path)
            errors.append(f"{path}: fails the schema's {keyword or 'constraint'}")
        if len(errors) >= MAX_ERRORS:
            break
    return errors


def _pydantic_errors(exc: ValidationError) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False)[:MAX_ERRORS]
    ]


class ArgsValidator:
    """Validates a call's arguments; ``json_schema`` describes them to agents."""

    def __init__(
        self,
        schema: dict[str, Any] | None = None,
        handler: Callable[..., Any] | None = None,
    ) -> None:
        """Build from a JSON Schema, else from ``handler``'s signature, else open.

        Raises:
            SchemaProblem: ``schema`` is not a valid JSON Schema.
        """
        self._validator: Any = None
        self._model: type[BaseModel] | None = None
        if schema is not None:
            self._validator = _compile_json_schema(schema)
            self.json_schema = schema
        elif handler is not None:
            self._model = _model_from_signature(handler)
            self.json_schema = self._model.model_json_schema()
        else:
            self.json_schema = {"type": "object"}

    def check(self, args: JSONObject) -> Checked:
        """Validate ``args``; never raises for bad input."""
        if self._validator is not None:
            errors = _json_errors(self._validator, args)
            return Checked(not errors, args, errors)
        if self._model is not None:
            try:
                model = self._model.model_validate(args)
            except ValidationError as exc:
                return Checked(ok=False, value=args, errors=_pydantic_errors(exc))
            return Checked(ok=True, value=model.model_dump(), errors=[])
        return Checked(ok=True, value=args, errors=[])


class ValueValidator:
    """Validates a tool's result against an output schema or return annotation."""

    def __init__(
        self,
        schema: dict[str, Any] | None = None,
        handler: Callable[..., Any] | None = None,
    ) -> None:
        """Raises SchemaProblem for an invalid ``schema``."""
        self._validator: Any = None
        self._adapter: TypeAdapter[Any] | None = None
        if schema is not None:
            self._validator = _compile_json_schema(schema)
        elif handler is not None:
            hint = _hints(handler).get("return")
            if hint is not None and hint is not Any:
                self._adapter = TypeAdapter(hint)

    def check(self, value: Any) -> Checked:
        """Validate a result; never raises for a bad value, never quotes it."""
        if self._validator is not None:
            errors = _json_errors(self._validator, value, quote=False)
            return Checked(not errors, value, errors)
        if self._adapter is not None:
            try:
                self._adapter.validate_python(value)
            except ValidationError as exc:
                return Checked(ok=False, value=value, errors=_pydantic_errors(exc))
        return Checked(ok=True, value=value, errors=[])


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return get_type_hints(fn)
    except (NameError, TypeError):
        return {}


def _model_from_signature(fn: Callable[..., Any]) -> type[BaseModel]:
    hints = _hints(fn)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(name, Any)
        default = ... if param.default is param.empty else param.default
        fields[name] = (annotation, default)
    model_name = f"{getattr(fn, '__name__', 'tool')}_args"
    config = ConfigDict(extra="forbid")
    return create_model(model_name, __config__=config, **fields)
