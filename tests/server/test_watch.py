"""The watcher brings what another writer commits to the hub, and survives failures.

Real databases; the other writer is a second ``DecisionLog`` on its own connection
(the tests in ``test_wait`` and ``test_sse`` use separate processes).
"""

import threading

import anyio
import anyio.to_thread
import pytest
import sqlalchemy as sa

from enclosure._desk import ApprovalDesk
from enclosure.audit import DecisionLog
from enclosure.server._hub import Hub, Live, Poke
from enclosure.server._watch import Watcher


def heard(hub, action, until):
    """Run ``action`` in a thread, then return the first hub item ``until`` accepts."""

    async def main():
        listener = hub.listen()
        await anyio.to_thread.run_sync(action)
        with anyio.fail_after(5):
            while True:
                item = await listener.queue.get()
                if until(item):
                    return item

    return anyio.run(main)


@pytest.fixture
def watched(db_url):
    """A log with a watcher feeding a hub, and another writer on the same database."""
    log = DecisionLog(db_url)
    other = DecisionLog(db_url)
    other.create_run("r1", agent="a", task="t", manifest_sha256="0" * 64, started_at=1)
    hub = Hub()
    watcher = Watcher(log, hub, retry=0.05)
    watcher.start()
    assert watcher.listening.wait(5)
    yield log, other, hub, watcher
    watcher.stop()
    log.close()
    other.close()


def request(log):
    return ApprovalDesk(log).request(
        run_id="r1",
        tool="pay",
        args={},
        binding_sha256="0" * 64,
        rule="r",
        reason="why",
        ttl=60,
        requested_by="ada",
    )


def is_event_of(approval_id, action):
    def check(item):
        return (
            isinstance(item, Live)
            and item.event.kind == "approval"
            and item.event.approval_id == approval_id
            and item.event.action == action
        )

    return check


def test_events_another_writer_stores_reach_the_hub(watched):
    _log, other, hub, _watcher = watched
    made = {}

    def act():
        made["a"] = request(other)

    item = heard(hub, act, lambda i: isinstance(i, Live))
    assert item.event.approval_id == made["a"].approval_id


def test_a_decision_elsewhere_reaches_the_hub(watched, db_url):
    _log, other, hub, _watcher = watched
    approval = request(other)
    desk = ApprovalDesk(other)
    item = heard(
        hub,
        lambda: desk.approve(approval.approval_id, by="bob"),
        lambda i: (
            i == Poke(approval.approval_id)
            or is_event_of(approval.approval_id, "approved")(i)
        ),
    )
    if db_url.startswith("postgresql"):  # NOTIFY comes with the decision's commit
        assert item == Poke(approval.approval_id)


def test_events_this_process_handed_out_are_not_handed_out_twice(watched):
    log, _other, hub, _watcher = watched
    seen = []

    async def main():
        listener = hub.listen()
        log.subscribe(hub.observe)
        first = await anyio.to_thread.run_sync(request, log)
        second = await anyio.to_thread.run_sync(request, log)
        with anyio.fail_after(5):
            while True:
                item = await listener.queue.get()
                if isinstance(item, Live):
                    seen.append(item.event.approval_id)
                    if item.event.approval_id == second.approval_id:
                        break
        return first

    first = anyio.run(main)
    assert seen.count(first.approval_id) == 1


def test_a_dropped_listener_listens_again_and_pokes_every_waiter(postgres):
    db_url = postgres.fresh_url()  # a listener connection to drop: PostgreSQL only
    log = DecisionLog(db_url)
    other = DecisionLog(db_url)
    other.create_run("r1", agent="a", task="t", manifest_sha256="0" * 64, started_at=1)
    hub = Hub()
    watcher = Watcher(log, hub, retry=0.05)
    engine = sa.create_engine(db_url)

    def drop_listeners():
        assert watcher.listening.wait(5)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE query = 'LISTEN enclosure' AND pid <> pg_backend_pid()"
                )
            )

    try:
        watcher.start()
        assert watcher.listening.wait(5)  # its first poke is out: the next is news
        item = heard(hub, drop_listeners, lambda i: i == Poke(None))
        assert item == Poke(None)
        made = {}

        def act():
            made["a"] = request(other)

        item = heard(hub, act, lambda i: isinstance(i, Live))
        assert item.event.approval_id == made["a"].approval_id
    finally:
        watcher.stop()
        engine.dispose()
        log.close()
        other.close()


def test_a_closed_log_stops_the_watcher(db_url):
    log = DecisionLog(db_url)
    watcher = Watcher(log, Hub(), retry=0.05)
    watcher.start()
    log.close()
    watcher.stop()
    assert not watcher._thread.is_alive()


def test_a_log_closed_while_the_watcher_reads_leaves_no_connection_open(postgres):
    # A server whose watcher is still reading when its log closes (the stop
    # waits only so long: a loaded run saw one read on into the next test): the
    # read's connection, given back afterwards, must be closed, not left open
    # until the garbage collector finds it and psycopg warns in another test.
    db_url = postgres.fresh_url()
    log = DecisionLog(db_url)
    hub = Hub()
    watcher = Watcher(log, hub, retry=0.05)
    locker = sa.create_engine(db_url)
    reading, used = threading.Event(), []

    def watcher_reads(conn, *_args):
        if threading.current_thread().name == "enclosure watcher":
            used.append(conn.connection.dbapi_connection)
            reading.set()

    sa.event.listen(log._db.engine, "before_cursor_execute", watcher_reads)

    def close_the_log_under_the_read():
        watcher.start()
        assert watcher.listening.wait(5)  # after its first read
        reading.clear()
        used.clear()
        with locker.connect() as held:  # the read waits for this lock
            held.execute(sa.text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
            with locker.begin() as conn:  # "another process stored an event"
                conn.execute(sa.text("SELECT pg_notify('enclosure', 'event:1')"))
            assert reading.wait(5)
            log.close()
            held.rollback()
        watcher.stop()

    async def main():
        listener = hub.listen()  # someone listens: the watcher reads the log
        await anyio.to_thread.run_sync(close_the_log_under_the_read)
        hub.leave(listener)

    try:
        anyio.run(main)
    finally:
        watcher.stop()
        log.close()
        locker.dispose()
    assert used
    assert all(raw.closed for raw in used)
