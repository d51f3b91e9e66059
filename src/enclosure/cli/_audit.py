"""``enclosure audit``: verify, prove, export and sign the decision log.

``verify`` checks the hash chain, every checkpoint's Merkle root and signature
(with the home keyring, or the trusted ``--key``), and checkpoint copies kept
elsewhere (``--copies``); ``verify --offline FILE --key PUB`` does the same for an
export with no database. ``prove`` and ``consistency`` print RFC 9162 proofs;
``checkpoint`` signs one now; ``rotate-key`` starts a new signing key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from enclosure._clock import SystemClock
from enclosure._enclosure import keys_folder, open_log
from enclosure.audit import (
    Checkpointing,
    MerkleTree,
    SigningKeys,
    leaf_hash,
    parse_public_keys,
    verify_consistency,
    verify_inclusion,
    verify_log,
)
from enclosure.audit._export import read_copies, read_export, write_export
from enclosure.cli._common import echo_json, home_of, open_home_log
from enclosure.errors import UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from enclosure.audit import CheckpointEvent, DecisionLog, VerifyReport

__all__ = ["audit"]

_FILE = click.Path(path_type=Path, dir_okay=False)


@click.group()
@click.option(
    "--keys",
    "keys_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of the signing key and keyring [default: HOME/keys].",
)
@click.pass_context
def audit(ctx: click.Context, keys_dir: Path | None) -> None:
    """Tamper-evidence of the decision log: verify, prove, export, sign."""
    ctx.obj = {**(ctx.obj or {}), "keys": keys_dir}


def _keys(ctx: click.Context) -> SigningKeys:
    folder = ctx.obj.get("keys") if ctx.obj else None
    return SigningKeys(folder or keys_folder(home_of(ctx)))


def _trusted(ctx: click.Context, key_file: Path | None) -> dict[str, Ed25519PublicKey]:
    """The keys to trust: ``--key`` when given, else the home keyring."""
    if key_file is None:
        return _keys(ctx).public_keys()
    try:
        return parse_public_keys(key_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read the public key file {key_file}"
        raise UsageError(msg, code="E-AUDIT-KEY") from exc
    except ValueError as exc:
        msg = f"{key_file}: {exc}"
        raise UsageError(msg, code="E-AUDIT-KEY") from exc


def _report(report: VerifyReport, *, as_json: bool, what: str) -> int:
    if as_json:
        echo_json(report._asdict())
    elif report.ok:
        signed = (
            f", {report.checkpoints} signed checkpoints, events 1-"
            f"{report.signed_events} signed"
            if report.checkpoints
            else ", no signed checkpoint checked"
        )
        click.echo(f"audit: ok ({report.events} events, {what} intact{signed})")
    else:
        click.echo(
            f"audit: FAILED at event {report.first_bad_seq}: {report.problem}", err=True
        )
    return 0 if report.ok else 1


@audit.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--offline",
    type=_FILE,
    default=None,
    help="Verify this export (from `audit export`) instead of the database.",
)
@click.option(
    "--key",
    "key_file",
    type=_FILE,
    default=None,
    help="Trust only the public keys in this PEM file (default: the keyring).",
)
@click.option(
    "--copies",
    type=_FILE,
    default=None,
    help="A checkpoint copy file the log must still match.",
)
@click.pass_context
def verify(
    ctx: click.Context,
    as_json: bool,  # noqa: FBT001 -- click flag
    offline: Path | None,
    key_file: Path | None,
    copies: Path | None,
) -> int:
    """Exit 0 if the log is intact; otherwise name the first bad event."""
    copied = read_copies(copies) if copies is not None else []
    if offline is not None:
        if key_file is None:
            msg = "--offline needs --key PUB: an export cannot vouch for itself"
            raise UsageError(msg, code="E-USAGE-ARG")
        export = read_export(offline)
        report = verify_log(
            export.rows,
            public_keys=_trusted(ctx, key_file),
            copies=copied,
            require_signed=True,
            expected_events=export.events,
        )
        if report.ok and export.events is None:
            problem = "the export has no trailer (truncated?)"
            report = report._replace(
                ok=False, first_bad_seq=report.events + 1, problem=problem
            )
        return _report(report, as_json=as_json, what="export")
    log = open_home_log(ctx)
    keys = _trusted(ctx, key_file)
    report = log.verify(public_keys=keys or None, copies=copied)
    return _report(report, as_json=as_json, what="hash chain")


def _tree(log: DecisionLog) -> MerkleTree:
    return MerkleTree(leaf_hash(bytes.fromhex(h)) for h in log.event_hashes())


def _latest_checkpoint(log: DecisionLog) -> CheckpointEvent | None:
    from enclosure.audit import CheckpointEvent  # noqa: PLC0415 -- isinstance only

    found = log.events(kinds=["checkpoint"])
    event = found[-1].event if found else None
    return event if isinstance(event, CheckpointEvent) else None


@audit.command()
@click.argument("seq", type=click.IntRange(min=1))
@click.option(
    "--size",
    type=click.IntRange(min=1),
    default=None,
    help="Prove against the tree of this many events [default: latest checkpoint].",
)
@click.pass_context
def prove(ctx: click.Context, seq: int, size: int | None) -> int:
    """Print an inclusion proof (RFC 9162) of event SEQ, as JSON."""
    log = open_home_log(ctx)
    tree = _tree(log)
    checkpoint = _latest_checkpoint(log)
    if size is None:
        size = (
            checkpoint.tree_size
            if checkpoint and seq <= checkpoint.tree_size
            else len(tree)
        )
    if not seq <= size <= len(tree):
        msg = f"event {seq} is not in a tree of {size} (the log has {len(tree)} events)"
        raise UsageError(msg, code="E-USAGE-ARG")
    leaf = tree.levels[0][seq - 1]
    proof = tree.inclusion_proof(seq - 1, size)
    root = tree.root(size)
    out: dict[str, Any] = {
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": size,
        "leaf_hash": leaf.hex(),
        "root_hash": root.hex(),
        "proof": [p.hex() for p in proof],
        "verified": verify_inclusion(leaf, seq - 1, size, proof, root),
        "checkpoint": _signed_head(checkpoint, size),
    }
    echo_json(out)
    return 0 if out["verified"] else 1


@audit.command()
@click.argument("old", type=click.IntRange(min=1))
@click.argument("new", type=click.IntRange(min=1))
@click.pass_context
def consistency(ctx: click.Context, old: int, new: int) -> int:
    """Print a consistency proof that tree OLD is a prefix of tree NEW, as JSON."""
    log = open_home_log(ctx)
    tree = _tree(log)
    if not old <= new <= len(tree):
        msg = f"need OLD <= NEW <= {len(tree)} (the log's size), got {old} and {new}"
        raise UsageError(msg, code="E-USAGE-ARG")
    proof = tree.consistency_proof(old, new)
    old_root, new_root = tree.root(old), tree.root(new)
    ok = verify_consistency(old, new, old_root, new_root, proof)
    echo_json(
        {
            "old_size": old,
            "new_size": new,
            "old_root": old_root.hex(),
            "new_root": new_root.hex(),
            "proof": [p.hex() for p in proof],
            "verified": ok,
        }
    )
    return 0 if ok else 1


def _signed_head(checkpoint: CheckpointEvent | None, size: int) -> Any:
    if checkpoint is None or checkpoint.tree_size != size:
        return None
    return {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "ts": checkpoint.ts,
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


@audit.command()
@click.option("--out", type=_FILE, required=True, help="The JSON-lines file to write.")
@click.pass_context
def export(ctx: click.Context, out: Path) -> int:
    """Write every event (checkpoints included) to a file `verify --offline` reads."""
    log = open_home_log(ctx)
    try:
        count = write_export(log.chain_rows(), out)
    except OSError as exc:
        msg = f"cannot write {out}: {exc.strerror or type(exc).__name__}"
        raise UsageError(msg, code="E-AUDIT-EXPORT") from exc
    click.echo(f"audit: exported {count} events to {out}")
    return 0


@audit.command()
@click.pass_context
def checkpoint(ctx: click.Context) -> int:
    """Sign a checkpoint of the log now (runs' ends and the writer do it too)."""
    open_home_log(ctx).close()  # the log must exist; checks --home
    settings = Checkpointing(keys=_keys(ctx), clock=SystemClock())
    log = open_log(home_of(ctx), checkpoints=settings)
    try:
        signed = log.checkpoint()
    finally:
        log.close()
    if signed is None:
        click.echo("audit: nothing new to checkpoint")
    else:
        click.echo(
            f"audit: checkpoint of {signed.tree_size} events, root "
            f"{signed.root_hash}, key {signed.key_id}"
        )
    return 0


@audit.command("rotate-key")
@click.pass_context
def rotate_key(ctx: click.Context) -> int:
    """Start a new signing key; old public keys stay in the keyring."""
    keys = _keys(ctx)
    new = keys.rotate()
    click.echo(f"audit: new signing key {new}; keyring {keys.public_path}")
    return 0
