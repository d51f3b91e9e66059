"""CEL conditions, compiled once when the policy is built and run on plain data.

A condition sees four variables: ``args`` (the proposed arguments), ``run`` (run
statistics), ``tool`` (name, effect, mode, cost) and ``context`` (what led to the
call). Any error while evaluating is reported to the caller, which denies: a
condition that cannot be evaluated never lets a call through.
"""

from __future__ import annotations

from typing import Any

import cel

__all__ = ["VARIABLES", "Condition", "ConditionError", "ConditionSyntaxError"]

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


class Condition:
    """A compiled CEL expression with the source it came from."""

    __slots__ = ("_always", "_program", "roots", "source")

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

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def value(self, activation: dict[str, Any]) -> Any:
        """Evaluate and return the raw result.

        Raises:
            ConditionError: evaluation failed.
        """
        if self._program is None:
            return True
        # The binding converts every variable it is given on each call, so pass
        # only those the expression reads: 2 µs instead of 27 for a full activation.
        given = {k: activation[k] for k in self.roots if k in activation}
        try:
            return self._program.execute(given)
        except _EVAL_ERRORS as exc:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            msg = f"{type(exc).__name__}: {detail}"[:300]
            raise ConditionError(msg) from exc

    def test(self, activation: dict[str, Any]) -> bool:
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
