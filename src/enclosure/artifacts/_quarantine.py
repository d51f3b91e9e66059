"""One run's quarantine: where its ``filesystem.write`` paths really live.

Layout under ``<root>/<run_id>/`` (mode 0700)::

    meta.json        the write paths and their originals (kind, hash, mode, size)
    scan.json        the last scan's artifacts and their decisions
    lock             serialises scans and decisions across processes
    <i>/base         pristine copy of write path i as the run found it
    <i>/data         the working copy the sandbox mounts read-write

Everything under ``data`` is hostile: it is read only through ``_fs``, which never
follows a symlink, and promotion re-checks every hash before it writes.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from enclosure.artifacts import _decisions as rules
from enclosure.artifacts._copy import copy_in
from enclosure.artifacts._diff import Side, render_diff
from enclosure.artifacts._fs import (
    TooMany,
    kind_of,
    lstat_at,
    open_chain,
    open_dir,
    open_path,
    read_file_at,
    remove_tree,
)
from enclosure.artifacts._model import Artifact, ScanLimits
from enclosure.artifacts._promote import Destination, check_source, commit, conflict
from enclosure.artifacts._scan import Found, WritePath, scan_write_path, split
from enclosure.artifacts._store import (
    load_meta,
    load_scan,
    locked,
    save_meta,
    save_scan,
)
from enclosure.artifacts._token import check_decider
from enclosure.errors import ArtifactError, AuditUnavailable, UsageError
from enclosure.sandbox import Mount

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from enclosure.artifacts._token import PromotionApproval
    from enclosure.audit import DecisionLog

__all__ = ["Quarantine"]

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _io_error(what: str, exc: OSError) -> ArtifactError:
    msg = f"cannot {what}: {exc.strerror or exc}"
    return ArtifactError(msg, code="E-ARTIFACT-IO")


class Quarantine:
    """The quarantined write paths of one run; see the module docstring.

    Build one with ``create`` (before the sandbox starts) or ``open`` (later, from
    any process). Scans and decisions take a lock, so two processes never decide
    the same artifact twice.
    """

    def __init__(
        self,
        run_dir: Path,
        run_id: str,
        paths: Sequence[WritePath],
        limits: ScanLimits | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.paths = tuple(paths)
        self.limits = limits or ScanLimits()

    def __repr__(self) -> str:
        return f"<Quarantine {self.run_id}: {len(self.paths)} write paths>"

    @classmethod
    def create(
        cls,
        root: Path,
        run_id: str,
        write_paths: Sequence[Path],
        *,
        limits: ScanLimits | None = None,
    ) -> Quarantine:
        """Copy each write path into a new quarantine for ``run_id``.

        A missing write path starts as an empty folder; symlinks inside are copied
        as symlinks, special files are left out.

        Raises:
            UsageError: ``run_id`` cannot name a folder (``E-USAGE``).
            ArtifactError: the quarantine exists (``E-ARTIFACT-EXISTS``), a write
                path is a symlink or special file (``E-ARTIFACT-UNSAFE``), or
                copying failed (``E-ARTIFACT-IO``).
        """
        if not _RUN_ID.fullmatch(run_id):
            msg = f"run id {run_id!r} cannot name a quarantine folder"
            raise UsageError(msg, code="E-USAGE")
        root = Path(os.path.abspath(root))  # noqa: PTH100 -- mounts need it absolute
        run_dir = root / run_id
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            run_dir.mkdir(mode=0o700)
        except FileExistsError:
            msg = f"run {run_id} already has a quarantine"
            raise ArtifactError(msg, code="E-ARTIFACT-EXISTS") from None
        except OSError as exc:
            raise _io_error(f"create {run_dir}", exc) from exc
        try:
            paths = []
            for index, host in enumerate(write_paths):
                slot = run_dir / str(index)
                slot.mkdir(mode=0o700)
                existed = os.path.lexists(host)
                layout, originals = copy_in(host, [slot / "base", slot / "data"])
                paths.append(WritePath(Path(host), layout, existed, originals))
            save_meta(run_dir, run_id, paths)
        except BaseException as exc:
            remove_tree(run_dir)
            if isinstance(exc, OSError):
                raise _io_error("copy a write path into quarantine", exc) from exc
            raise
        return cls(run_dir, run_id, paths, limits)

    @classmethod
    def open(
        cls, root: Path, run_id: str, *, limits: ScanLimits | None = None
    ) -> Quarantine:
        """Reopen the quarantine of ``run_id``.

        Raises:
            ArtifactError: there is none (``E-ARTIFACT-NOT-FOUND``).
        """
        root = Path(os.path.abspath(root))  # noqa: PTH100 -- as create made it
        try:
            if not _RUN_ID.fullmatch(run_id):
                raise FileNotFoundError(run_id)
            paths = load_meta(root / run_id)
        except (OSError, ValueError):
            msg = f"run {run_id} has no quarantine under {root}"
            raise ArtifactError(msg, code="E-ARTIFACT-NOT-FOUND") from None
        return cls(root / run_id, run_id, paths, limits)

    @property
    def mounts(self) -> tuple[Mount, ...]:
        """The working copies, each bound read-write at its write path."""
        return tuple(
            Mount(self.run_dir / str(i) / "data", str(wp.host), writable=True)
            for i, wp in enumerate(self.paths)
        )

    def discard(self) -> None:
        """Delete the quarantine and everything in it.

        Raises:
            OSError: something could not be removed.
        """
        remove_tree(self.run_dir)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """Hold the lock; yield a descriptor on the run's folder."""
        try:
            with locked(self.run_dir):
                fd = open_path(self.run_dir)
                try:
                    yield fd
                finally:
                    os.close(fd)
        except FileNotFoundError as exc:
            msg = f"the quarantine of run {self.run_id} is gone"
            raise ArtifactError(msg, code="E-ARTIFACT-NOT-FOUND") from exc

    # -- scanning and reading --------------------------------------------------

    def scan(self) -> list[Artifact]:
        """Compare every working copy with its originals and scan what changed.

        Ids are stable, and an artifact already decided keeps its decision while
        its content stays the same.

        Raises:
            ArtifactError: too many entries or folders too deep
                (``E-ARTIFACT-LIMIT``), or the quarantine cannot be read
                (``E-ARTIFACT-IO``).
        """
        with self._locked() as run_fd:
            previous = {f.artifact.id: f.artifact for f in load_scan(self.run_dir)}
            found: list[Found] = []
            try:
                for index, wp in enumerate(self.paths):
                    with open_dir(run_fd, [str(index)]) as slot:
                        found += scan_write_path(
                            self.run_id, index, wp, slot, self.limits
                        )
            except TooMany as exc:
                msg = f"the quarantine of run {self.run_id} holds {exc}"
                raise ArtifactError(msg, code="E-ARTIFACT-LIMIT") from exc
            except OSError as exc:
                raise _io_error("scan the quarantine", exc) from exc
            merged = [
                rules.keep_decision(f, previous.get(f.artifact.id)) for f in found
            ]
            save_scan(self.run_dir, merged)
        return [f.artifact for f in merged]

    def artifacts(self) -> list[Artifact]:
        """The last scan's artifacts with their current state (none before a scan)."""
        return [f.artifact for f in load_scan(self.run_dir)]

    def get(self, artifact_id: str) -> Artifact:
        """One artifact of the last scan.

        Raises:
            ArtifactError: no such artifact (``E-ARTIFACT-NOT-FOUND``).
        """
        return rules.pick(load_scan(self.run_dir), [artifact_id])[0].artifact

    def diff(self, artifact_id: str) -> str:
        """A unified diff of one artifact against its original, safe to print.

        Raises:
            ArtifactError: no such artifact (``E-ARTIFACT-NOT-FOUND``).
        """
        found = rules.pick(load_scan(self.run_dir), [artifact_id])[0]
        artifact = found.artifact
        old = new = Side("absent")
        with self._locked() as run_fd, open_dir(run_fd, [str(found.slot)]) as slot:
            if artifact.change != "added":
                old = self._side(slot, "base", found)
            if artifact.change != "deleted":
                new = self._side(slot, "data", found)
        label = str(artifact.path)
        return render_diff(label, old, new, max_lines=self.limits.diff_lines)

    def _side(self, slot: int, which: str, found: Found) -> Side:
        chain, name = self._where(found, which)
        try:
            with open_dir(slot, chain) as parent:
                st = lstat_at(parent, name)
                if st is None:
                    return Side("absent")
                kind = kind_of(st.st_mode)
                if kind == "symlink":
                    target = os.fsencode(os.readlink(name, dir_fd=parent))
                    return Side("symlink", data=target)
                if kind != "file":
                    return Side("special")
                read = read_file_at(parent, name, keep=self.limits.diff_bytes)
        except OSError:  # a folder on the way was replaced: show nothing from it
            return Side("unreadable")
        complete = len(read.head) >= read.size
        return Side("file", read.sha256, read.head, complete=complete)

    def _where(self, found: Found, which: str) -> tuple[list[str], str]:
        """The folders from a slot down to one entry of ``base`` or ``data``.

        Returns the folder names and the entry's name in the last one.
        """
        if self.paths[found.slot].layout == "file":
            return [], which
        parts = split(found.rel)
        return [which, *parts[:-1]], parts[-1]

    # -- decisions -------------------------------------------------------------

    def promote(
        self,
        ids: Sequence[str],
        *,
        approval: PromotionApproval,
        log: DecisionLog,
        now: float,
        accept_findings: bool = False,
    ) -> list[Artifact]:
        """Copy approved artifacts onto the host, each atomically, and log each.

        Every artifact is checked (state, findings, quarantine unchanged, host
        unchanged) before the first is written; each is logged just before its
        rename, so a promotion that could not be logged never happens.

        Args:
            ids: artifact ids of the last scan.
            approval: who approved, and how (a person, or the CI token).
            log: the decision log.
            now: the time to log.
            accept_findings: promote artifacts with findings too (logged).

        Returns:
            The promoted artifacts.

        Raises:
            ArtifactError: ``E-ARTIFACT-NOT-FOUND``, ``E-ARTIFACT-DECIDED``,
                ``E-ARTIFACT-UNSAFE`` (a special file or a link out, never
                promoted), ``E-ARTIFACT-FINDINGS``, ``E-ARTIFACT-CHANGED`` (the
                quarantined file changed since the scan), ``E-ARTIFACT-CONFLICT``
                (the host changed since the run started), ``E-ARTIFACT-IO``.
            AuditUnavailable: a promotion could not be logged; it did not happen.
        """
        done: list[Artifact] = []
        with self._locked() as run_fd:
            entries = load_scan(self.run_dir)
            chosen = rules.pick(entries, ids, pending=True)
            for found in chosen:
                rules.check_findings(found.artifact, accept_findings=accept_findings)
            try:
                for found in chosen:
                    with self._source(run_fd, found) as source:
                        check_source(found.artifact, source)
                    conflict(found.artifact, self._dest(found))
                for found in chosen:
                    done.append(self._promote_one(run_fd, found, approval, log, now))
                    entries = rules.replace(entries, done[-1])
                    save_scan(self.run_dir, entries)
            except AuditUnavailable:
                raise
            except OSError as exc:
                raise _io_error("promote", exc) from exc
        return done

    def _promote_one(
        self,
        run_fd: int,
        found: Found,
        approval: PromotionApproval,
        log: DecisionLog,
        now: float,
    ) -> Artifact:
        artifact = found.artifact
        reason = rules.promotion_reason(artifact, approval)
        record = rules.event(
            artifact, "promoted", by=approval.by, reason=reason, now=now
        )
        with self._source(run_fd, found) as source:
            commit(artifact, self._dest(found), source, lambda: log.append(record))
        return rules.decided(artifact, "promoted", by=approval.by, reason=reason)

    def reject(
        self,
        ids: Sequence[str],
        *,
        by: str,
        reason: str,
        log: DecisionLog,
        now: float,
    ) -> list[Artifact]:
        """Mark artifacts rejected (they stay in quarantine) and log each.

        Raises:
            UsageError: ``by`` is not a printable name (``E-USAGE``).
            ArtifactError: ``E-ARTIFACT-NOT-FOUND``, ``E-ARTIFACT-DECIDED``.
            AuditUnavailable: a rejection could not be logged.
        """
        check_decider(by)
        done: list[Artifact] = []
        with self._locked():
            entries = load_scan(self.run_dir)
            for found in rules.pick(entries, ids, pending=True):
                record = rules.event(
                    found.artifact, "rejected", by=by, reason=reason, now=now
                )
                log.append(record)
                done.append(
                    rules.decided(found.artifact, "rejected", by=by, reason=reason)
                )
                entries = rules.replace(entries, done[-1])
                save_scan(self.run_dir, entries)
        return done

    def _dest(self, found: Found) -> Destination:
        return Destination(self.paths[found.slot], split(found.rel))

    @contextmanager
    def _source(self, run_fd: int, found: Found) -> Iterator[tuple[int, str] | None]:
        """The quarantined entry's folder and name.

        Yields ``None`` when a folder on the way is gone (only right for a
        deletion).

        Raises:
            ArtifactError: a folder on the way was replaced (``E-ARTIFACT-CHANGED``).
        """
        chain, name = self._where(found, "data")
        try:
            fd = open_chain(run_fd, [str(found.slot), *chain])
        except FileNotFoundError:
            yield None
            return
        except OSError as exc:
            msg = (
                f"{found.artifact.id}: a folder on its path in quarantine was replaced"
            )
            raise ArtifactError(msg, code="E-ARTIFACT-CHANGED") from exc
        try:
            yield fd, name
        finally:
            os.close(fd)
