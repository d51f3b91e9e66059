"""CEL conditions, compiled once when the policy is built and run on plain data.

A condition sees four variables: ``args`` (the proposed arguments), ``run`` (run
statistics), ``tool`` (name, effect, mode, cost) and ``context`` (what led to the
call). Any error while evaluating is reported to the caller, which denies: a
condition that cannot be evaluated never lets a call through.
"""

from __future__ import annotations

import re
from typing import Any

import cel

__all__ = [
    "VARIABLES",
    "Activation",
    "Condition",
    "ConditionError",
    "ConditionSyntaxError",
]

VARIABLES = frozenset({"args", "run", "tool", "context"})
"""Every variable a condition can read."""

# Errors the CEL runtime raises for missing keys, bad types, bad indexes and
# arithmetic faults. Anything else is a bug and propagates to the top-level handler.
_EVAL_ERRORS = (
    KeyError,
    TypeError,
    ValueError,
    RuntimeError,
    IndexError,
    ZeroDivisionError,
    OverflowError,
    AttributeError,
)


class ConditionError(Exception):
    """A condition could not be evaluated, or did not give the type it must."""


class ConditionSyntaxError(ValueError):
    """A condition does not compile; ``str()`` is a one-line explanation."""


class Activation:
    """The variables of one decision, converted for CEL once and shared.

    The CEL binding converts a plain dict on every evaluation (155 µs for a run
    snapshot with 200 tool counters); a ``cel.Context`` is converted once, after
    which each evaluation costs well under a microsecond.
    """

    __slots__ = ("_context", "values")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self._context: Any = None

    def context(self) -> Any:
        """The converted ``cel.Context``, built on first use.

        Raises:
            ConditionError: a value cannot be represented in CEL.
        """
        if self._context is None:
            context = cel.Context()
            try:
                for name, value in self.values.items():
                    context.add_variable(name, value)
            except _EVAL_ERRORS as exc:
                msg = f"cannot pass {name!r} to CEL: {exc}"[:300]
                raise ConditionError(msg) from exc
            self._context = context
        return self._context


class Condition:
    """A compiled CEL expression with the source it came from."""

    __slots__ = ("_always", "_program", "roots", "run_fields", "source")

    def __init__(self, source: str) -> None:
        """Compile ``source``.

        Raises:
            ConditionSyntaxError: the expression does not parse.
        """
        self.source = source
        self._always = source.strip() == "true"
        try:
            self._program = None if self._always else cel.compile(source)
        except (ValueError, RuntimeError) as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            detail = next((ln for ln in lines if "error" in ln.lower()), lines[0])
            detail = detail.split("ERROR: <input>:", 1)[-1]
            msg = f"invalid CEL expression {source!r}: {detail}"
            raise ConditionSyntaxError(msg) from None
        names = self._program.variables() if self._program is not None else []
        self.roots: frozenset[str] = frozenset(names) & VARIABLES
        """The activation variables this condition reads."""
        self.run_fields = _run_fields(source) if "run" in self.roots else frozenset()
        """The ``run.<field>`` names it reads; None when it uses ``run`` otherwise."""

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def value(self, activation: Activation | dict[str, Any]) -> Any:
        """Evaluate and return the raw result.

        Raises:
            ConditionError: evaluation failed.
        """
        if self._program is None:
            return True
        if isinstance(activation, dict):
            wanted = {k: v for k, v in activation.items() if k in self.roots}
            activation = Activation(wanted)
        context = activation.context()
        try:
            return self._program.execute(context)
        except _EVAL_ERRORS as exc:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            msg = f"{type(exc).__name__}: {detail}"[:300]
            raise ConditionError(msg) from exc

    def test(self, activation: Activation | dict[str, Any]) -> bool:
        """Evaluate a boolean condition.

        Raises:
            ConditionError: evaluation failed or the result is not a boolean.
        """
        if self._program is None:
            return True
        result = self.value(activation)
        if not isinstance(result, bool):
            msg = f"condition gave {type(result).__name__}, not a boolean"
            raise ConditionError(msg)
        return result


_RUN_WORD = re.compile(r"\brun\b")
_RUN_FIELD = re.compile(r"\brun\.([A-Za-z_][A-Za-z0-9_]*)")


def _run_fields(source: str) -> frozenset[str] | None:
    """Fields read as ``run.name``; None if ``run`` appears any other way.

    Converting the whole run snapshot for CEL costs ~15 µs; one field ~2 µs.
    """
    fields = _RUN_FIELD.findall(source)
    if len(fields) != len(_RUN_WORD.findall(source)):
        return None
    return frozenset(fields)
