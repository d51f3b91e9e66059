import pytest

from enclosure.audit import DecisionLog
from enclosure.errors import UsageError
from enclosure.server import hash_token, issue_token
from enclosure.server._auth import GRANTS, ROLES, authenticate, require
from enclosure.server._errors import HttpError


def test_only_the_hash_of_a_token_is_stored(tmp_path):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    with DecisionLog(url) as log:
        secret, record = issue_token(log, "bob", "approver", now=1.0, ttl=10)
        assert log.find_token(hash_token(secret)) == record
        assert record.expires_at == 11.0
        assert authenticate(log, f"Bearer {secret}", now=2.0).name == "bob"
    assert secret.encode() not in (tmp_path / "e.db").read_bytes()


def test_names_and_roles_are_checked(tmp_path):
    with DecisionLog("sqlite://") as log:
        with pytest.raises(UsageError) as exc:
            issue_token(log, " ", "viewer", now=1.0)
        assert exc.value.code == "E-USAGE-NAME"
        with pytest.raises(UsageError) as exc:
            issue_token(log, "x", "root", now=1.0)
        assert exc.value.code == "E-USAGE-ROLE"


def test_agents_never_decide_and_every_role_reads():
    assert "agent" not in GRANTS["decide"]
    assert GRANTS["read"] == frozenset(ROLES)
    with pytest.raises(HttpError) as exc:
        require(authenticate_stub("agent"), "decide")
    assert (exc.value.status, exc.value.code) == (403, "E-AUTH-ROLE")


def authenticate_stub(role):
    from enclosure.server import Identity  # noqa: PLC0415

    return Identity("x", role, "tok_x")
