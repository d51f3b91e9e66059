"""Exports and checkpoint copies as files: what ``verify --offline`` reads.

An export is JSON lines: a header, one line per event with its chain fields and
its body exactly as hashed, and a trailer with the event count::

    {"format": "enclosure-audit-export", "version": 1}
    {"seq": 1, "prev_hash": "...", "hash": "...", "body": "{...}"}
    ...
    {"end": true, "events": 1234, "head": "..."}

Checkpoints are events, so they travel inside it. A checkpoint copy file (see
``CheckpointFile``) is one signed tree head per line.

Bad files raise ``UsageError`` with ``E-AUDIT-EXPORT`` and the line at fault.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from enclosure.audit._chain import ChainRow
from enclosure.audit._checkpoint import Checkpoint
from enclosure.audit._verify import CheckpointCopyRecord
from enclosure.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = ["Export", "read_copies", "read_export", "write_export"]

FORMAT = "enclosure-audit-export"
CODE = "E-AUDIT-EXPORT"


class Export(NamedTuple):
    """An export read back: its rows and the count its trailer claims."""

    rows: list[ChainRow]
    events: int | None
    """``None`` when the trailer is missing (the file was cut)."""


def write_export(rows: Iterable[ChainRow], out: Path) -> int:
    """Write ``rows`` to ``out`` (atomically, mode 0600); return the event count.

    Raises:
        OSError: the file cannot be written.
    """
    tmp = out.with_name(f".{out.name}.tmp")
    count, head = 0, ""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(_line({"format": FORMAT, "version": 1}))
        for row in rows:
            body = row.body.decode("utf-8", "surrogatepass")
            file.write(
                _line(
                    {
                        "seq": row.seq,
                        "prev_hash": row.prev_hash,
                        "hash": row.hash,
                        "body": body,
                    }
                )
            )
            count, head = row.seq, row.hash
        file.write(_line({"end": True, "events": count, "head": head}))
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(out)
    return count


def read_export(path: Path) -> Export:
    """Read an export written by ``write_export``.

    Raises:
        UsageError: ``E-AUDIT-EXPORT``: unreadable, not an export, or a line that
            is not what the format says.
    """
    rows: list[ChainRow] = []
    events: int | None = None
    for number, data in _json_lines(path):
        if number == 1:
            if data.get("format") != FORMAT or data.get("version") != 1:
                _fail(path, number, "not an Enclosure audit export")
            continue
        if events is not None:
            _fail(path, number, "lines after the trailer")
        if data.get("end") is True:
            count = data.get("events")
            if not isinstance(count, int):
                _fail(path, number, "the trailer has no event count")
            events = count
            continue
        seq, prev, digest, body = (
            data.get(k) for k in ("seq", "prev_hash", "hash", "body")
        )
        if not (
            isinstance(seq, int)
            and isinstance(prev, str)
            and isinstance(digest, str)
            and isinstance(body, str)
        ):
            _fail(path, number, "an event line needs seq, prev_hash, hash and body")
        rows.append(
            ChainRow(seq, prev, digest, body.encode("utf-8", "surrogatepass"), None)
        )
    if not rows and events is None:
        _fail(path, 1, "empty file")
    return Export(rows, events)


def read_copies(path: Path) -> list[CheckpointCopyRecord]:
    """Read a checkpoint copy file (one signed tree head per line).

    Raises:
        UsageError: ``E-AUDIT-EXPORT``, unreadable or malformed.
    """
    records = []
    for number, data in _json_lines(path):
        try:
            checkpoint = Checkpoint(
                tree_size=_int(data["tree_size"]),
                root_hash=str(data["root_hash"]),
                ts=str(data["ts"]),
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
            records.append(CheckpointCopyRecord(_int(data["seq"]), checkpoint))
        except (KeyError, TypeError):
            _fail(path, number, "not a checkpoint record")
    return records


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError
    return value


def _json_lines(path: Path) -> Iterable[tuple[int, dict[str, object]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read {path}: {getattr(exc, 'strerror', None) or 'not UTF-8'}"
        raise UsageError(msg, code=CODE) from exc
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            _fail(path, number, "not JSON")
        if not isinstance(data, dict):
            _fail(path, number, "not a JSON object")
        yield number, data


def _line(data: dict[str, object]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def _fail(path: Path, line: int, problem: str) -> NoReturn:
    raise UsageError(f"{path}:{line}: {problem}", code=CODE)
