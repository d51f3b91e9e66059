import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclosure.audit._checkpoint import (
    checkpoint_note,
    key_id,
    parse_public_keys,
    public_key_pem,
    sign_checkpoint,
    signature_problem,
)


def test_a_signed_checkpoint_verifies_under_its_key_only():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    cp = sign_checkpoint(key, 7, "ab" * 32, "2026-11-25T00:00:00.000000+00:00")
    ring = parse_public_keys(public_key_pem(key.public_key()))
    assert list(ring) == [key_id(key.public_key())] == [cp.key_id]
    assert signature_problem(cp, ring) is None
    assert "unknown key" in signature_problem(
        cp, parse_public_keys(public_key_pem(other.public_key()))
    )
    assert "forged" in signature_problem(cp._replace(tree_size=8), ring)
    assert "forged" in signature_problem(cp._replace(signature="!!"), ring)
    assert checkpoint_note(7, "ab", "t") == b"enclosure-audit checkpoint v1\n7\nab\nt\n"


def test_a_keyring_holds_several_keys_and_rejects_junk():
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    text = public_key_pem(a.public_key()) + public_key_pem(b.public_key())
    assert len(parse_public_keys(text)) == 2
    with pytest.raises(ValueError, match="no PEM"):
        parse_public_keys("hello")
    broken = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    with pytest.raises(ValueError, match="not valid PEM"):
        parse_public_keys(broken)
