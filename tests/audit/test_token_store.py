import pytest

from enclosure.audit import DecisionLog, TokenRecord
from enclosure.errors import UsageError


@pytest.fixture
def log(db_url):
    with DecisionLog(db_url) as opened:
        yield opened


def record(ident="tok_1", role="approver", expires_at=None):
    return TokenRecord(ident, "bob", role, 10.0, expires_at, None)


def test_a_token_is_found_by_the_hash_of_its_secret_only(log):
    log.create_token(record(), "h" * 64)
    assert log.find_token("h" * 64) == record()
    assert log.find_token("x" * 64) is None
    assert log.list_tokens() == [record()]


def test_a_revoked_or_expired_token_is_not_usable(log):
    log.create_token(record(expires_at=20.0), "h" * 64)
    assert log.find_token("h" * 64).usable(19.0)
    assert not log.find_token("h" * 64).usable(20.0)
    assert log.revoke_token("tok_1", now=15.0)
    assert not log.revoke_token("tok_1", now=16.0)
    assert not log.revoke_token("tok_unknown", now=16.0)
    assert not log.find_token("h" * 64).usable(15.0)


def test_unknown_roles_and_taken_ids_are_refused(log):
    with pytest.raises(UsageError) as exc:
        log.create_token(record(role="root"), "h" * 64)
    assert exc.value.code == "E-USAGE-ROLE"
    log.create_token(record(), "h" * 64)
    with pytest.raises(UsageError):
        log.create_token(record(), "i" * 64)
    assert len(log.list_tokens()) == 1
