import stat

import pytest

from enclosure.audit import SigningKeys, key_id


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_first_use_generates_a_0600_key_and_a_keyring(tmp_path):
    keys = SigningKeys(tmp_path / "keys")
    key = keys.signer()
    assert _mode(keys.private_path) == 0o600
    assert list(keys.public_keys()) == [key_id(key.public_key())]
    assert key_id(keys.signer().public_key()) == key_id(key.public_key())
    assert "PRIVATE" not in repr(keys)


def test_rotation_keeps_old_public_keys(tmp_path):
    keys = SigningKeys(tmp_path)
    old = key_id(keys.signer().public_key())
    new = keys.rotate()
    assert new != old
    assert list(keys.public_keys()) == [old, new]
    assert key_id(keys.signer().public_key()) == new


def _replace_private_key(keys):
    other = SigningKeys(keys.folder / "other")
    other.signer()
    other.private_path.replace(keys.private_path)


@pytest.mark.parametrize(
    ("spoil", "words"),
    [
        (lambda k: k.private_path.unlink(), "missing"),
        (lambda k: k.private_path.write_text("junk", encoding="utf-8"), "not a valid"),
        (lambda k: k.private_path.chmod(0o644), "mode 0644"),
        (_replace_private_key, "not in the keyring"),
        (lambda k: k.public_path.write_text("garbage", encoding="utf-8"), "garbled"),
    ],
)
def test_a_missing_or_unusable_key_refuses_to_sign(tmp_path, spoil, words):
    keys = SigningKeys(tmp_path)
    keys.signer()
    spoil(keys)
    with pytest.raises(OSError, match=words) as caught:
        keys.signer()
    assert caught.value.code == "E-AUDIT-KEY"
    assert "\n" not in str(caught.value)
