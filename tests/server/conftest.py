"""Fixtures for the server tests: a real uvicorn server on loopback, on both databases.

``server`` serves an enclosure whose decision log is ``db_url`` (SQLite, then
PostgreSQL), with one token per role: ``server.client("approver")``. The fake
clock moves only when a test says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from enclosure import Enclosure
from enclosure.audit import DecisionLog
from enclosure.server import Notifier, Server, ServerClient, issue_token
from enclosure.testing import FakeClock, manifest_from

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MANIFEST = """
agent: {name: payer}
tools:
  pay: {mode: approve}
  lookup: {effect: read}
  wire: {mode: deny}
  ping: {effect: read, rate: 2/hour}
network:
  rules:
    - {name: docs, host: docs.example.com}
approvals: {ttl: 60s}
"""
NAMES = {
    "agent": "ada",
    "approver": "bob",
    "operator": "olga",
    "viewer": "vic",
    "admin": "ann",
}


def make_enclosure(url: str, home: Path, clock: FakeClock) -> Enclosure:
    enc = Enclosure(
        manifest_from(MANIFEST), log=DecisionLog(url), clock=clock, home=home
    )
    enc.tool("pay")(lambda amount: {"paid": amount})
    enc.tool("lookup")(lambda key: {"key": key, "value": 42})
    enc.tool("wire")(lambda iban: {"wired": iban})
    enc.tool("ping")(lambda: {"pong": True})
    return enc


class Running:
    """A served enclosure, its tokens by role, and clients for them."""

    def __init__(
        self, url: str, home: Path, clock: FakeClock, notifier: Notifier | None = None
    ) -> None:
        self.db_url = url
        self.home = home
        self.clock = clock
        self.enc = make_enclosure(url, home, clock)
        self.tokens = {
            role: issue_token(self.enc.log, name, role, now=clock.time())[0]
            for role, name in NAMES.items()
        }
        self.server = Server(self.enc, notifier=notifier)
        self._clients: list[ServerClient] = []

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, role: str | None = None, token: str | None = None) -> ServerClient:
        made = ServerClient(self.url, token or self.tokens[role or "viewer"])
        self._clients.append(made)
        return made

    def restart(self) -> None:
        """Stop the server and close the log, then open both again."""
        self.stop()
        self.enc = make_enclosure(self.db_url, self.home, self.clock)
        self.server = Server(self.enc)

    def stop(self) -> None:
        for made in self._clients:
            made.close()
        self._clients.clear()
        self.server.stop()
        self.enc.log.close()  # runs belong to their agents: a restart ends none


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Running]:
    running = Running(db_url, tmp_path / "home", clock)
    yield running
    running.stop()


@pytest.fixture
def make_server(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    """``make_server(notifier=...)``: a served enclosure with options; stopped after."""
    made: list[Running] = []

    def make(**options: Any) -> Running:
        running = Running(db_url, tmp_path / f"home{len(made)}", clock, **options)
        made.append(running)
        return running

    yield make
    for running in made:
        running.stop()
