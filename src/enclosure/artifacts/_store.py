"""The quarantine's own records: its write paths, its last scan, and its lock.

Both records are JSON written atomically (temporary file, fsync, rename). They are
ASCII with escapes, so a file name whose bytes are not UTF-8 (held as surrogates)
survives the round trip exactly.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enclosure.artifacts._model import Artifact, Original
from enclosure.artifacts._scan import Found, WritePath

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "LOCK",
    "META",
    "SCAN",
    "load_meta",
    "load_scan",
    "locked",
    "save_meta",
    "save_scan",
]

META, SCAN, LOCK = "meta.json", "scan.json", "lock"
VERSION = 1


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    with tmp.open("x", encoding="ascii") as file:
        json.dump(value, file, ensure_ascii=True, sort_keys=True, indent=1)
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(path)


def save_meta(run_dir: Path, run_id: str, paths: Sequence[WritePath]) -> None:
    """Record the write paths and their originals."""
    meta = {
        "version": VERSION,
        "run_id": run_id,
        "paths": [
            {
                "host": str(p.host),
                "layout": p.layout,
                "existed": p.existed,
                "originals": {k: list(v) for k, v in p.originals.items()},
            }
            for p in paths
        ],
    }
    _write_json(run_dir / META, meta)


def load_meta(run_dir: Path) -> list[WritePath]:
    """The write paths recorded by ``save_meta``.

    Raises:
        OSError: there is no record.
        ValueError: the record is not one this version wrote.
    """
    meta = json.loads((run_dir / META).read_text(encoding="ascii"))
    if not isinstance(meta, dict) or meta.get("version") != VERSION:
        msg = f"{run_dir / META} is not a quarantine record"
        raise ValueError(msg)
    try:
        return [
            WritePath(
                Path(p["host"]),
                p["layout"],
                p["existed"],
                {k: Original(*v) for k, v in p["originals"].items()},
            )
            for p in meta["paths"]
        ]
    except (KeyError, TypeError) as exc:
        msg = f"{run_dir / META} is damaged"
        raise ValueError(msg) from exc


def save_scan(run_dir: Path, found: Sequence[Found]) -> None:
    """Record the artifacts of a scan, with their decisions."""
    entries = [
        {"slot": f.slot, "rel": f.rel, "artifact": f.artifact.model_dump(mode="json")}
        for f in found
    ]
    _write_json(run_dir / SCAN, {"version": VERSION, "artifacts": entries})


def load_scan(run_dir: Path) -> list[Found]:
    """The artifacts recorded by ``save_scan``; none before the first scan."""
    try:
        data = json.loads((run_dir / SCAN).read_text(encoding="ascii"))
    except FileNotFoundError:
        return []
    return [
        Found(e["slot"], e["rel"], Artifact.model_validate(e["artifact"]))
        for e in data["artifacts"]
    ]


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the quarantine's lock (an ``flock``, released if the process dies).

    Raises:
        OSError: the lock file cannot be opened.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(run_dir / LOCK, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
