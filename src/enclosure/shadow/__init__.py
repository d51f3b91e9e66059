"""Shadow comparison, the maturity ladder's gates and least-privilege suggestions.

Pure: it compares proposals with outcomes, computes Wilson intervals, renders the
HTML report as text, checks ladder gates and narrows manifests from observed
runs. Must not know: the decision log, files, sockets or the clock; the wiring
(``enclosure._ladder``) and the CLI read the log and hand it plain values.
"""

from enclosure.shadow._compare import (
    ACTION_COLUMNS,
    NONE,
    Action,
    ActionStats,
    ArgDiff,
    Interval,
    ShadowReport,
    action_rows,
    compare,
    percent,
    wilson,
)
from enclosure.shadow._html import render_html
from enclosure.shadow._ladder import DEMOTED_TO, STAGES, Evidence, demotion, missing
from enclosure.shadow._outcomes import parse_outcomes
from enclosure.shadow._suggest import Call, Request, Suggestion, suggest

__all__ = [
    "ACTION_COLUMNS",
    "DEMOTED_TO",
    "NONE",
    "STAGES",
    "Action",
    "ActionStats",
    "ArgDiff",
    "Call",
    "Evidence",
    "Interval",
    "Request",
    "ShadowReport",
    "Suggestion",
    "action_rows",
    "compare",
    "demotion",
    "missing",
    "parse_outcomes",
    "percent",
    "render_html",
    "suggest",
    "wilson",
]
