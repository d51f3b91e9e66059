import pytest

from enclosure.audit import DecisionLog
from enclosure.audit._database import Database
from enclosure.audit._session_store import SessionTable
from enclosure.errors import AuditUnavailable


@pytest.fixture
def log(db_url):
    with DecisionLog(db_url) as opened:
        yield opened


def test_a_session_is_found_by_its_hash_until_it_expires(log):
    log.create_session("c" * 64, "t" * 64, expires_at=100.0, now=10.0)
    assert log.find_session("c" * 64, now=99.0) == ("t" * 64, 100.0)
    assert log.find_session("c" * 64, now=100.0) is None
    assert log.find_session("x" * 64, now=10.0) is None


def test_a_dropped_session_is_gone_and_expired_ones_are_purged(log):
    log.create_session("a" * 64, "t" * 64, expires_at=50.0, now=10.0)
    log.create_session("b" * 64, "t" * 64, expires_at=500.0, now=10.0)
    log.drop_session("b" * 64)
    log.drop_session("never" * 8)
    assert log.find_session("b" * 64, now=20.0) is None
    log.create_session("c" * 64, "t" * 64, expires_at=900.0, now=60.0)
    assert log.find_session("a" * 64, now=0.0) is None  # purged, not just expired
    assert log.find_session("c" * 64, now=60.0) == ("t" * 64, 900.0)


def test_a_closed_database_fails_closed(log, db_url):
    db = Database(db_url, "normal")
    sessions = SessionTable(db)
    sessions.create("d" * 64, "t" * 64, expires_at=100.0, now=1.0)
    assert log.find_session("d" * 64, now=2.0) == ("t" * 64, 100.0)
    db.closed = True
    with pytest.raises(AuditUnavailable):
        sessions.find("d" * 64, now=2.0)
    db.engine.dispose()
