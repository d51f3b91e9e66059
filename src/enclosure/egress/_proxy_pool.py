"""Idle upstream connections, kept for the next request of the same binding.

Opening a connection to an origin (resolve, SSRF check, TCP, TLS for https)
costs more than the rest of a small request together, and sandboxed clients
open a new connection to the proxy for nearly every request. So when an
exchange ends with its upstream idle and clean, the connection waits here, and
the next request of the same binding for the same origin takes it.

Why that is as safe as a fresh connection:

- **One principal per connection.** Entries are keyed by owner (the ``Binding``),
  scheme, host and port. A binding serves one principal of one run, so no
  connection ever carries requests of two principals: state an origin binds to a
  connection (NTLM or Negotiate authentication, a session pinned to the socket)
  cannot pass from a tool to the agent or between tools. Credentials the broker
  injects go on every request anyway, so they need no such care. The pool
  belongs to one proxy, and a proxy to one run.
- **Policy and SSRF, per request.** Every request is decided by the policy
  before it takes a connection. The connection's address was SSRF-checked for
  this host when it was dialled, and ``Upstream.reusable_for`` asks the current
  request's verdict again whether that address may be reached (a non-public one
  needs ``allow_private``); an IP-literal host is its own address, and which
  literals rules name does not change while a proxy lives.
- **Only clean connections.** One is put back only when both sides of its
  exchange are complete and nothing is left unread, and taken only if that is
  still so (not at end of stream, no bytes the origin sent while idle, transport
  open, within ``idle_s`` of its last use on the proxy's clock); anything else is
  closed. A request that fails on a reused connection before any byte of a
  response is retried once on a fresh one when it can be replayed (``Exchange``).
- **Cut with its binding.** ``close_owner`` (the binding closed: its command
  ended or the run was killed) closes every idle connection of that binding;
  the ones in use belong to the binding's client connections, which the close
  aborts. Connections of a closed binding are never kept for another one.

Runs on the proxy's event loop only; nothing here locks.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Hashable

    from enclosure.egress._proxy_peer import Upstream
    from enclosure.types import Clock

__all__ = ["IDLE_S", "PER_KEY", "TOTAL", "Pool"]

IDLE_S = 15.0
"""How long an idle connection is kept; origins often close theirs after 5-60 s."""
PER_KEY = 8
"""Idle connections kept per binding and origin."""
TOTAL = 64
"""Idle connections kept per proxy."""

PoolKey = tuple["Hashable", str, str, int]
"""(owner, scheme, host, port)."""


class Pool:
    """A proxy's idle upstream connections, by binding and origin.

    Args:
        clock: says when a connection has idled out (the proxy's clock).
        idle_s: how long an idle connection is kept.
        per_key: how many are kept per binding and origin (the oldest goes).
        total: how many are kept in all (the oldest goes).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        idle_s: float = IDLE_S,
        per_key: int = PER_KEY,
        total: int = TOTAL,
    ) -> None:
        self._clock = clock
        self._idle_s = idle_s
        self._per_key = per_key
        self._total = total
        self._since: dict[Upstream, tuple[PoolKey, float]] = {}
        """Every idle connection, oldest first: its key and when it was put back."""
        self._keyed: dict[PoolKey, list[Upstream]] = {}
        """The same, by key, most recently used last."""
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    def __len__(self) -> int:
        return len(self._since)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} idle"
        return f"Pool({state})"

    def take(
        self,
        owner: Hashable,
        key: tuple[str, str, int],
        *,
        allow_private: bool,
    ) -> Upstream | None:
        """An idle connection of ``owner`` that may carry this request now, if any.

        The most recently used comes first. Connections found expired or no
        longer clean are closed on the way; one kept for a rule that allowed a
        private address stays for the next request that may use it.
        """
        found = self._keyed.get((owner, *key))
        if not found:
            return None
        limit = self._clock.monotonic() - self._idle_s
        for upstream in reversed(found):
            if self._since[upstream][1] <= limit:
                self._drop(upstream)
            elif upstream.reusable_for(key, allow_private=allow_private):
                self._remove(upstream)
                return upstream
            elif not upstream.clean():
                self._drop(upstream)
        return None

    def put(self, owner: Hashable, upstream: Upstream) -> bool:
        """Keep ``upstream`` for ``owner``'s next request; whether it was kept.

        A connection that is not clean, or any after ``close``, is not kept:
        the caller aborts it.
        """
        if self.closed or not upstream.clean():
            return False
        now = self._clock.monotonic()
        self._expire(now)
        key: PoolKey = (owner, *upstream.key)
        keyed = self._keyed.setdefault(key, [])
        if len(keyed) >= self._per_key:
            self._drop(keyed[0])
            keyed = self._keyed.setdefault(key, [])
        if len(self._since) >= self._total:
            self._drop(next(iter(self._since)))
            keyed = self._keyed.setdefault(key, [])
        keyed.append(upstream)
        self._since[upstream] = (key, now)
        if self._timer is None:
            self._arm()
        return True

    def close_owner(self, owner: Hashable) -> None:
        """Close every idle connection of ``owner`` (its binding closed)."""
        for key in [k for k in self._keyed if k[0] == owner]:
            for upstream in list(self._keyed.get(key, ())):
                self._drop(upstream)

    def close(self) -> None:
        """Close every idle connection and keep none from now on; idempotent."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for upstream in list(self._since):
            self._drop(upstream)

    def sweep(self) -> None:
        """Close what has idled out or was closed by its origin while idle."""
        now = self._clock.monotonic()
        self._expire(now)
        for upstream in [u for u in self._since if not u.clean()]:
            self._drop(upstream)

    # --- bookkeeping ---------------------------------------------------------------

    def _expire(self, now: float) -> None:
        limit = now - self._idle_s
        while self._since:
            oldest = next(iter(self._since))
            if self._since[oldest][1] > limit:
                return
            self._drop(oldest)

    def _remove(self, upstream: Upstream) -> None:
        key, _ = self._since.pop(upstream)
        keyed = self._keyed[key]
        keyed.remove(upstream)
        if not keyed:
            del self._keyed[key]

    def _drop(self, upstream: Upstream) -> None:
        """Forget ``upstream`` and close it (no TLS close_notify: see Slot.abort)."""
        self._remove(upstream)
        upstream.abort()

    def _arm(self) -> None:
        """Sweep once ``idle_s`` has passed on the loop's clock, while any is kept.

        The loop's timer only wakes the sweep; which connections have idled out
        is judged on the proxy's clock, so tests move time by advancing theirs.
        """
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._idle_s, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.closed:
            return
        self.sweep()
        if self._since:
            self._arm()
