"""The policy engine: pure, synchronous, compiled once per manifest.

``compile_policy(manifest).decide(call, state, now)`` returns a ``Decision``. Must
not know: files, sockets, processes, the wall clock (time is passed in), the decision
log (the caller records decisions), or how tools run.
"""

from enclosure.policy._conditions import Condition, ConditionError, ConditionSyntaxError
from enclosure.policy._engine import (
    CompileProblem,
    Policy,
    PolicyCompileError,
    compile_policy,
)
from enclosure.policy._ratelimit import RateCheck, SlidingWindows
from enclosure.policy._state import RunState
from enclosure.policy._taint import Taint, TaintMatch, normalise

__all__ = [
    "CompileProblem",
    "Condition",
    "ConditionError",
    "ConditionSyntaxError",
    "Policy",
    "PolicyCompileError",
    "RateCheck",
    "RunState",
    "SlidingWindows",
    "Taint",
    "TaintMatch",
    "compile_policy",
    "normalise",
]
