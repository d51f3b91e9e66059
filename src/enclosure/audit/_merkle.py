r"""A Merkle tree over the event hashes, as RFC 9162 (Certificate Transparency 2.0).

Leaves are the 32-byte chain hashes of the events in ``seq`` order, hashed with a
domain byte: ``leaf = SHA-256(0x00 || event_hash)`` and ``node = SHA-256(0x01 || left
|| right)``; the tree of ``n`` leaves splits at the largest power of two below ``n``
(RFC 9162 §2.1.1). A signed checkpoint commits to the root of the first ``n`` events;
an inclusion proof (§2.1.3) shows that one event is among them, and a consistency
proof (§2.1.4) that a later tree extends an earlier one without rewriting it.

``MerkleTree`` keeps every complete subtree's hash, so roots and proofs of any
earlier size cost O(log² n) hashes; ``CompactRange`` keeps only the O(log n) roots a
writer needs to extend the tree and sign its root. The verifiers are free functions
that trust nothing but their arguments.

Pure: bytes in, bytes out; no file, database or clock.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()
"""The root of the empty tree (RFC 9162 §2.1.1)."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an inner node."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """All leaves and every complete subtree's hash; roots and proofs at any size.

    ``levels[h][i]`` is the hash of the perfect subtree of ``2**h`` leaves that
    starts at leaf ``i * 2**h``. Every subtree the RFC's recursion asks for is
    either one of those or lies on the right edge, so a root or proof costs at
    most one hash per level on that edge.
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    def __len__(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (``leaf_hash(event_hash)``) at the end."""
        levels = self.levels
        levels[0].append(leaf)
        height, node = 0, leaf
        while len(levels[height]) % 2 == 0:
            below = levels[height]
            node = node_hash(below[-2], node)
            height += 1
            if height == len(levels):
                levels.append([])
            levels[height].append(node)

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (all when ``None``).

        Raises:
            ValueError: ``size`` is negative or beyond the tree.
        """
        size = len(self) if size is None else self._check(size, "size")
        return EMPTY_ROOT if size == 0 else self._hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` (§2.1.3.1).

        Raises:
            ValueError: ``index`` is not below ``size``, or ``size`` is beyond it.
        """
        self._check(size, "size")
        if not 0 <= index < size:
            msg = f"leaf {index} is not in a tree of {size}"
            raise ValueError(msg)
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._hash(start + k, end))
                end = start + k
            else:
                path.append(self._hash(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """Proof that the tree of ``old`` leaves is a prefix of that of ``new``.

        Raises:
            ValueError: unless ``0 < old <= new <= len(self)``.
        """
        self._check(new, "new size")
        if not 0 < old <= new:
            msg = f"no consistency proof from {old} to {new} (need 0 < old <= new)"
            raise ValueError(msg)
        path: list[bytes] = []
        start, end, whole = 0, new, True
        while old != end:
            k = _split(end - start)
            if old - start <= k:
                path.append(self._hash(start + k, end))
                end = start + k
            else:
                path.append(self._hash(start, start + k))
                start, whole = start + k, False
        if not whole:
            path.append(self._hash(start, end))
        path.reverse()
        return path

    def _check(self, size: int, what: str) -> int:
        if not 0 <= size <= len(self):
            msg = f"{what} {size} is beyond the tree of {len(self)} leaves"
            raise ValueError(msg)
        return size

    def _hash(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``; ``start`` is aligned as the recursion is."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            height = n.bit_length() - 1
            return self.levels[height][start >> height]
        k = _split(n)
        return node_hash(self._hash(start, start + k), self._hash(start + k, end))


class CompactRange:
    """The roots of the perfect subtrees that make up a tree: enough to extend it.

    A tree of ``size`` leaves is the perfect subtrees given by the bits of ``size``,
    largest first; appending merges equal ones, as binary addition carries. Its
    root folds them from the right. A writer keeps this (at most 64 hashes) instead
    of every leaf, and stores it in each checkpoint so it can resume there.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or size.bit_count() != len(hashes):
            msg = f"a compact range of {size} leaves has {size.bit_count()} hashes"
            raise ValueError(msg)
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash at the end."""
        hashes, size, node = self.hashes, self.size, leaf
        while size & 1:  # node_hash, inlined: verify calls this once per event
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            size >>= 1
        hashes.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The RFC 9162 root of the leaves appended so far."""
        if not self.hashes:
            return EMPTY_ROOT
        node = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            node = node_hash(left, node)
        return node


def root_from_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root an audit path leads to (§2.1.3.2), or ``None`` if it is malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return node if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` puts leaf ``index`` in the tree of ``size`` with ``root``."""
    return root_from_inclusion(leaf, index, size, proof) == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``(old, old_root)`` is a prefix of the new one.

    Follows RFC 9162 §2.1.4.2; equal sizes need an empty proof and equal roots.
    """
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
