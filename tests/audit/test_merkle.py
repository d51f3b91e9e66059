"""The Merkle tree against a plain recursive transcription of RFC 9162 §2.1."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enclosure.audit._merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d):
    """MTH(D[n]) exactly as §2.1.1 writes it, over leaf inputs (not leaf hashes)."""
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m, d):
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m, d, *, b):
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b=b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], b=False), ref_mth(d[:k])]


def data(n):
    return [f"event-{i}".encode() for i in range(n)]


def tree(n):
    return MerkleTree(leaf_hash(x) for x in data(n))


def test_known_roots():
    assert EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert tree(1).root() == _h(b"\x00event-0")
    two = node_hash(leaf_hash(b"event-0"), leaf_hash(b"event-1"))
    assert tree(2).root() == two
    assert tree(3).root() == node_hash(two, leaf_hash(b"event-2"))


@pytest.mark.parametrize("n", range(17))
def test_roots_at_every_size_match_the_rfc(n):
    t = tree(20)
    assert t.root(n) == ref_mth(data(n))
    compact = CompactRange()
    for x in data(n):
        compact.append(leaf_hash(x))
    assert compact.root() == ref_mth(data(n))
    assert CompactRange(compact.size, compact.hashes).root() == compact.root()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17])
def test_inclusion_proofs_match_the_rfc_and_verify(n):
    t, d = tree(n + 3), data(n)
    root = t.root(n)
    for m in range(n):
        proof = t.inclusion_proof(m, n)
        assert proof == ref_path(m, d)
        assert verify_inclusion(leaf_hash(d[m]), m, n, proof, root)
        assert not verify_inclusion(leaf_hash(b"other"), m, n, proof, root)
        if n > 1:
            assert not verify_inclusion(leaf_hash(d[m]), (m + 1) % n, n, proof, root)
            assert root_from_inclusion(leaf_hash(d[m]), m, n, proof[:-1]) != root


@pytest.mark.parametrize("new", [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17])
def test_consistency_proofs_match_the_rfc_and_verify(new):
    t, d = tree(new), data(new)
    for old in range(1, new + 1):
        proof = t.consistency_proof(old, new)
        assert proof == ref_subproof(old, d, b=True)
        assert verify_consistency(old, new, t.root(old), t.root(new), proof)
        forged = t.root(old)[::-1]
        assert not verify_consistency(old, new, forged, t.root(new), proof)
        if proof:
            assert not verify_consistency(old, new, t.root(old), t.root(new), proof[1:])


def test_a_rewritten_prefix_is_not_consistent():
    honest, other = data(8), data(8)
    other[2] = b"rewritten"
    old = MerkleTree(leaf_hash(x) for x in honest)
    new = MerkleTree(leaf_hash(x) for x in other + data(12)[8:])
    proof = new.consistency_proof(5, 12)
    assert not verify_consistency(5, 12, old.root(5), new.root(12), proof)


def test_bad_arguments_are_value_errors():
    t = tree(4)
    with pytest.raises(ValueError, match="not in a tree"):
        t.inclusion_proof(4, 4)
    with pytest.raises(ValueError, match="beyond"):
        t.root(5)
    with pytest.raises(ValueError, match="need 0 < old"):
        t.consistency_proof(0, 3)
    with pytest.raises(ValueError, match="hashes"):
        CompactRange(3, [b"x"])
    assert root_from_inclusion(b"x", 5, 4, []) is None
    assert not verify_consistency(0, 4, b"", b"", [])
    assert not verify_consistency(3, 3, b"a", b"a", [b"extra"])


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40), st.data())
def test_properties_hold_for_any_log(items, draw):
    t = MerkleTree(leaf_hash(x) for x in items)
    n = len(items)
    size = draw.draw(st.integers(1, n))
    index = draw.draw(st.integers(0, size - 1))
    old = draw.draw(st.integers(1, size))
    assert t.root(size) == ref_mth(items[:size])
    proof = t.inclusion_proof(index, size)
    assert verify_inclusion(leaf_hash(items[index]), index, size, proof, t.root(size))
    cons = t.consistency_proof(old, size)
    assert verify_consistency(old, size, t.root(old), t.root(size), cons)
