"""The shadow report as one self-contained HTML file: inline CSS and SVG charts.

No scripts, no fonts, no links out: the file opens offline and can be archived
with the audit record. Every value from the log is escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from enclosure.shadow._compare import ACTION_COLUMNS, action_rows, percent

if TYPE_CHECKING:
    from enclosure.shadow._compare import Interval, ShadowReport

__all__ = ["render_html"]

_W, _ROW = 520, 22


def _bars(title: str, rows: list[tuple[str, Interval]]) -> str:
    """Horizontal bars with the Wilson interval drawn as a whisker."""
    height = _ROW * len(rows) + 30
    out = [
        (
            f'<svg role="img" aria-label="{escape(title)}" width="{_W + 260}" '
            f'height="{height}" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>',
    ]
    for n, (label, i) in enumerate(rows):
        y = 24 + n * _ROW
        rate = i.rate or 0.0
        out += [
            f'<text x="0" y="{y + 14}">{escape(label[:28])}</text>',
            f'<rect x="200" y="{y + 3}" width="{_W}" height="14" fill="#eee"/>',
            (
                f'<rect x="200" y="{y + 3}" width="{rate * _W:.1f}" height="14" '
                'fill="#4a7"/>'
            ),
            (
                f'<line x1="{200 + i.low * _W:.1f}" x2="{200 + i.high * _W:.1f}" '
                f'y1="{y + 10}" y2="{y + 10}" stroke="#222" stroke-width="2"/>'
            ),
            f'<text x="{_W + 210}" y="{y + 14}">{escape(percent(i))}</text>',
        ]
    out.append("</svg>")
    return "\n".join(out)


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def render_html(report: ShadowReport, *, title: str = "Shadow report") -> str:
    """The whole report as HTML text."""
    actions = report.actions
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1100px}",
        "table{border-collapse:collapse;margin:1em 0}",
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}",
        "svg{font-size:12px;display:block;margin:1em 0}",
        "</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        (
            f"<p>{report.cases} cases compared; {report.agreed} agree: "
            f"<b>{escape(percent(report.agreement))}</b> (95 % Wilson interval). "
            f"{report.unmatched_cases} shadow cases had no outcome.</p>"
        ),
        _bars("Agreement", [("all cases", report.agreement)]),
        _bars("Precision per action", [(n, s.precision) for n, s in actions.items()]),
        _bars("Recall per action", [(n, s.recall) for n, s in actions.items()]),
        _bars(
            "Case agreement per action",
            [(n, s.agreement) for n, s in actions.items()],
        ),
        "<h2>Per action</h2>",
        _table(list(ACTION_COLUMNS), action_rows(report)),
        f"<h2>False actions ({report.false_count})</h2>",
        _table(
            ["case", "action", "args"],
            [[a.case_id, a.action, repr(a.args)] for a in report.false_actions],
        ),
        f"<h2>Missed actions ({report.missed_count})</h2>",
        _table(
            ["case", "action", "args"],
            [[a.case_id, a.action, repr(a.args)] for a in report.missed_actions],
        ),
        f"<h2>Argument differences ({report.arg_diff_count})</h2>",
        _table(
            ["case", "action", "argument", "proposed", "actual"],
            [
                [d.case_id, d.action, d.arg, repr(d.proposed), repr(d.actual)]
                for d in report.arg_diffs
            ],
        ),
        "</body></html>",
    ]
    return "\n".join(parts)
