"""Manifest versions: the texts uploaded to the server, numbered from 1.

``ManifestTable`` holds the SQL behind ``DecisionLog``'s manifest methods. A
version is keyed by the SHA-256 of its exact text, so the same text uploaded
twice is one version; numbers are taken in the inserting transaction, and an
upload that loses the race for a number (or for the same text) looks again.

Must not know: the hash chain, what a valid manifest is, or who may upload.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from enclosure.audit._schema import manifests_table

if TYPE_CHECKING:
    from enclosure.audit._database import Database

__all__ = ["ManifestRecord", "ManifestTable", "manifest_text_sha256"]

_M = manifests_table.c
_ATTEMPTS = 5


class ManifestRecord(NamedTuple):
    """One stored manifest version, without its text."""

    version: int
    sha256: str
    """SHA-256 of the text as uploaded (UTF-8)."""
    manifest_sha256: str
    """The manifest's own hash, as the runs it governed record it."""
    uploaded_by: str
    uploaded_at: float


_COLUMNS = (_M.version, _M.sha256, _M.manifest_sha256, _M.uploaded_by, _M.uploaded_at)


def manifest_text_sha256(text: str) -> str:
    """The SHA-256 (hex) a manifest text is stored under."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ManifestTable:
    """The manifest versions of one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self, text: str, *, manifest_sha256: str, by: str, now: float
    ) -> tuple[ManifestRecord, bool]:
        """Store ``text`` as the next version; True when it is new.

        Text stored before returns its existing version and False.
        """
        sha256 = manifest_text_sha256(text)
        failure: Exception | None = None
        for _ in range(_ATTEMPTS):
            found = self.find(sha256)
            if found is not None:
                return found, False
            with self._db.guard("record a manifest in"):
                try:
                    with self._db.begin() as conn:
                        top = conn.execute(sa.select(sa.func.max(_M.version))).scalar()
                        record = ManifestRecord(
                            int(top or 0) + 1, sha256, manifest_sha256, by, now
                        )
                        conn.execute(
                            manifests_table.insert().values(
                                **record._asdict(), text=text
                            )
                        )
                except sa_exc.IntegrityError as exc:
                    failure = exc  # another upload took the number or the text
                    continue
            return record, True
        assert failure is not None  # noqa: S101 -- only a lost race gets here
        raise self._db.unavailable("record a manifest in", failure)

    def find(self, sha256: str) -> ManifestRecord | None:
        """The version whose text hashes to ``sha256``, if any."""
        stmt = sa.select(*_COLUMNS).where(_M.sha256 == sha256)
        with self._db.guard("read a manifest from"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else ManifestRecord(*row)

    def get(self, version: int) -> tuple[ManifestRecord, str] | None:
        """One version and its text, if it exists."""
        stmt = sa.select(*_COLUMNS, _M.text).where(_M.version == version)
        with self._db.guard("read a manifest from"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (ManifestRecord(*row[:-1]), str(row[-1]))

    def select(self) -> list[ManifestRecord]:
        """Every version, oldest first."""
        stmt = sa.select(*_COLUMNS).order_by(_M.version)
        with self._db.guard("read manifests from"), self._db.connect() as conn:
            return [ManifestRecord(*row) for row in conn.execute(stmt).all()]
