"""Read what people actually did, from JSON Lines or CSV, with ``file:line:col``.

JSON Lines: one object a line, ``{"case_id": ..., "action": ..., "args": {...}}``
(``args`` optional). CSV: a header naming ``case_id`` and ``action``, then either
an ``args`` column holding a JSON object or any other columns, which become the
arguments (empty cells left out). ``action`` ``none`` records a case where nothing
was done. Every problem is one ``UsageError`` (``E-OUTCOMES-INVALID``) naming the
place; nothing is read from disk here, the caller passes the text.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from enclosure.errors import UsageError
from enclosure.shadow._compare import Action

__all__ = ["parse_outcomes"]

CODE = "E-OUTCOMES-INVALID"


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}", code=CODE)


def _action(where: str, row: dict[str, Any], args: Any) -> Action:
    case_id, action = row.get("case_id"), row.get("action")
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    if not isinstance(case_id, str) or not case_id.strip():
        raise _fail(where, "'case_id' must be a non-empty string")
    if not isinstance(action, str) or not action.strip():
        raise _fail(where, "'action' must be a non-empty string (or 'none')")
    if not isinstance(args, dict):
        raise _fail(where, "'args' must be a JSON object")
    return Action(case_id.strip(), action.strip(), args)


def _jsonl(text: str, name: str) -> list[Action]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(f"{name}:{n}:{exc.colno}", f"not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise _fail(f"{name}:{n}:1", "each line must be a JSON object")
        unknown = row.keys() - {"case_id", "action", "args"}
        if unknown:
            raise _fail(f"{name}:{n}:1", f"unknown key {min(unknown)!r}")
        out.append(_action(f"{name}:{n}:1", row, row.get("args", {})))
    return out


def _csv(text: str, name: str) -> list[Action]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
        missing = [c for c in ("case_id", "action") if c not in header]
        if missing:
            raise _fail(f"{name}:1:1", f"the header has no {missing[0]!r} column")
        out = []
        for row in reader:
            where = f"{name}:{reader.line_num}"
            if None in row or None in row.values():
                raise _fail(where, "the row has a different number of cells")
            if "args" in row:
                try:
                    args = json.loads(row["args"] or "{}")
                except json.JSONDecodeError as exc:
                    col = header.index("args") + 1
                    raise _fail(
                        f"{where}:{col}", f"'args' is not JSON ({exc.msg})"
                    ) from exc
            else:
                args = {
                    k: v for k, v in row.items() if k not in ("case_id", "action") and v
                }
            out.append(_action(where, row, args))
    except csv.Error as exc:
        raise _fail(f"{name}:{reader.line_num}", f"bad CSV ({exc})") from exc
    return out


def parse_outcomes(text: str, name: str) -> list[Action]:
    """Parse ``text`` (the file ``name``; ``.csv`` is CSV, anything else JSONL).

    Raises:
        UsageError: ``E-OUTCOMES-INVALID`` at the first bad line, or when the
            file holds no outcome.
    """
    rows = _csv(text, name) if name.lower().endswith(".csv") else _jsonl(text, name)
    if not rows:
        raise _fail(f"{name}:1", "no outcomes in the file")
    return rows
