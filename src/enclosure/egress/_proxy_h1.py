"""HTTP/1.1 framing for both ends of the proxy: h11's rules, without its machinery.

``Connection`` stands in for the part of ``h11.Connection`` the proxy uses
(``receive_data``, ``next_event``, ``send``, the two states, ``start_next_cycle``,
``trailing_data``, ``they_are_waiting_for_100_continue``). It speaks h11's own
events, states and errors and keeps h11's rules, which the proxy's protections
rest on:

- heads parsed by h11's grammar (request and status lines, ``name: value``
  lines, obs-fold joined into the line before, a line that is neither refused),
  every name and value checked once against h11's patterns, and
  ``Content-Length``/``Transfer-Encoding`` held to h11's rules (conflicting or
  signed lengths, more than one ``Transfer-Encoding``, any coding but
  ``chunked``); the event is built from h11's ``Headers``, as h11's own parser
  builds it, so its constructor still checks the method, target and ``Host``;
- ``Transfer-Encoding`` beats ``Content-Length`` when framing a body; chunk
  sizes and footers checked; a head is at most ``max_head`` bytes while
  incomplete;
- keep-alive off for HTTP/1.0 and ``Connection: close``; ``Expect:
  100-continue`` noted; CONNECT and Upgrade proposals, states and the pipelining
  rules of h11's state machine;
- heads going out (``send_request``, ``send_response``, and h11 events given to
  ``send``) checked part by part as h11's constructors check them, injected
  credentials included: no CR, LF or NUL, no outer whitespace, token names, one
  ``Host``; a refusal names the header, never its value;
- responses framed for the client as h11 frames them (``chunked`` to HTTP/1.1,
  close-delimited to HTTP/1.0, ``Connection: close`` whenever the connection
  ends after it).

``tests/egress/test_proxy_h1.py`` runs hostile input through this and through
``h11.Connection`` and requires the same events, errors, states and bytes. What
is left out is h11's per-event machinery: no event object is built for a head
going out, the state machine is a dict of two entries, a head goes out as one
join.

It must not know sockets, policy or records.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import h11
from h11._headers import Headers  # how h11 keeps a parsed head's fields
from h11._state import MIGHT_SWITCH_PROTOCOL  # h11's own state, not in its __all__

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MAX_HEAD", "Connection"]

MAX_HEAD = 16 * 1024
"""Bytes of an incomplete head (or chunk header) kept before the peer is refused:
h11's default."""

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_VCHAR_OR_OBS = rb"[^\x00\s]"
_REQUEST_LINE = re.compile(
    rb"(?P<method>" + _TOKEN + rb") (?P<target>[\x21-\x7e]+) "
    rb"HTTP/(?P<version>[0-9]\.[0-9])"
)
_STATUS_LINE = re.compile(
    rb"HTTP/(?P<version>[0-9]\.[0-9]) (?P<status>[0-9]{3})"
    rb"(?: (?P<reason>(?:[ \t]|" + _VCHAR_OR_OBS + rb")*))?"
)
_CHUNK_HEADER = re.compile(rb"(?P<size>[0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*\r\n")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_FOLDS = (b" ", b"\t")
"""How an obs-fold line starts."""
_DIGITS = re.compile(rb"[0-9]{1,20}").fullmatch
_NAME = re.compile(_TOKEN).fullmatch
_VALUE = re.compile(
    rb"(?:" + _VCHAR_OR_OBS + rb"+(?:[ \t]+" + _VCHAR_OR_OBS + rb"+)*)?"
).fullmatch
_METHOD = _NAME
_TARGET = re.compile(rb"[\x21-\x7e]+").fullmatch
_REASON = re.compile(rb"(?:[ \t]|" + _VCHAR_OR_OBS + rb")*").fullmatch
_OWS = b" \t"

_CLIENT, _SERVER = h11.CLIENT, h11.SERVER
_IDLE, _SEND_BODY, _DONE = h11.IDLE, h11.SEND_BODY, h11.DONE
_SEND_RESPONSE, _MUST_CLOSE, _CLOSED = h11.SEND_RESPONSE, h11.MUST_CLOSE, h11.CLOSED
_ERROR = h11.ERROR
_MIGHT_SWITCH, _SWITCHED = MIGHT_SWITCH_PROTOCOL, h11.SWITCHED_PROTOCOL
_NEED_DATA, _PAUSED = h11.NEED_DATA, h11.PAUSED
_Request, _Response = h11.Request, h11.Response
_Informational = h11.InformationalResponse
_Data, _EndOfMessage = h11.Data, h11.EndOfMessage
_ConnectionClosed = h11.ConnectionClosed
_EOM = h11.EndOfMessage()
_LENGTH, _CHUNKED, _HTTP10 = 0, 1, 2
"""Body framings: Content-Length, chunked, until the connection closes."""
_CONNECT, _UPGRADE = "connect", "upgrade"
"""Protocol switches a client may propose."""

# Event-triggered transitions, h11's table (h11._state.EVENT_TRIGGERED_TRANSITIONS).
_CLIENT_MOVES: dict[Any, dict[Any, Any]] = {
    _IDLE: {_Request: _SEND_BODY, _ConnectionClosed: _CLOSED},
    _SEND_BODY: {_Data: _SEND_BODY, _EndOfMessage: _DONE},
    _DONE: {_ConnectionClosed: _CLOSED},
    _MUST_CLOSE: {_ConnectionClosed: _CLOSED},
    _CLOSED: {_ConnectionClosed: _CLOSED},
}
_SERVER_MOVES: dict[Any, dict[Any, Any]] = {
    _IDLE: {
        _ConnectionClosed: _CLOSED,
        _Response: _SEND_BODY,
        (_Request, _CLIENT): _SEND_RESPONSE,
    },
    _SEND_RESPONSE: {
        _Informational: _SEND_RESPONSE,
        _Response: _SEND_BODY,
        (_Informational, _UPGRADE): _SWITCHED,
        (_Response, _CONNECT): _SWITCHED,
    },
    _SEND_BODY: {_Data: _SEND_BODY, _EndOfMessage: _DONE},
    _DONE: {_ConnectionClosed: _CLOSED},
    _MUST_CLOSE: {_ConnectionClosed: _CLOSED},
    _CLOSED: {_ConnectionClosed: _CLOSED},
}
# State-triggered transitions on the joint (client, server) state.
_JOINT: dict[tuple[Any, Any], tuple[Any, Any]] = {
    (_MIGHT_SWITCH, _SWITCHED): (_SWITCHED, _SWITCHED),
    (_CLOSED, _DONE): (_CLOSED, _MUST_CLOSE),
    (_CLOSED, _IDLE): (_CLOSED, _MUST_CLOSE),
    (_ERROR, _DONE): (_ERROR, _MUST_CLOSE),
    (_DONE, _CLOSED): (_MUST_CLOSE, _CLOSED),
    (_IDLE, _CLOSED): (_MUST_CLOSE, _CLOSED),
    (_DONE, _ERROR): (_MUST_CLOSE, _ERROR),
}


class _Facts:
    """What framing and keep-alive need from one head, read in one pass.

    ``Content-Length`` and ``Transfer-Encoding`` are held to h11's rules (one
    length however often repeated, digits only; one ``Transfer-Encoding``, and
    that ``chunked``), so a head the proxy builds is framed no more loosely
    than one it parsed.

    Raises:
        h11.LocalProtocolError: the framing headers break those rules.
    """

    __slots__ = ("chunked", "close", "digits", "expect", "length", "upgrade")

    def __init__(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.chunked = False
        self.length: int | None = None
        self.digits: bytes | None = None  # as written: h11 compares "3" and "003" so
        self.close = self.expect = self.upgrade = False
        for name, value in headers:  # names in lower case
            if name == b"transfer-encoding":
                if self.chunked:
                    raise h11.LocalProtocolError(
                        "multiple Transfer-Encoding headers", 501
                    )
                if value.lower() != b"chunked":
                    raise h11.LocalProtocolError(
                        "Only Transfer-Encoding: chunked is supported", 501
                    )
                self.chunked = True
            elif name == b"content-length":
                self._length(value)
            elif name == b"connection":
                self.close = self.close or b"close" in _tokens(value)
            elif name == b"expect":
                self.expect = self.expect or b"100-continue" in _tokens(value)
            elif name == b"upgrade":
                self.upgrade = self.upgrade or bool(_tokens(value))

    def _length(self, value: bytes) -> None:
        if _DIGITS(value) is None:  # "3, 3" is one length; "3, 4" is none
            lengths = {part.strip() for part in value.split(b",")}
            value = lengths.pop()
            if lengths or _DIGITS(value) is None:
                raise h11.LocalProtocolError("bad or conflicting Content-Length")
        if self.digits is not None and value != self.digits:
            raise h11.LocalProtocolError("bad or conflicting Content-Length")
        self.digits, self.length = value, int(value)


_NO_FACTS = _Facts(())


def _tokens(value: bytes) -> list[bytes]:
    """A comma list, lower case, empty items dropped (h11's ``get_comma_header``)."""
    return [t for t in (t.strip() for t in value.lower().split(b",")) if t]


def _framing(
    method: bytes | None, kind: Any, status: int, facts: _Facts
) -> tuple[int, int]:
    """How a body after ``event`` is delimited, and its length if that is known.

    RFC 9112 6.3 as h11 applies it: no body after 204, 304, HEAD or a CONNECT's
    2xx; ``Transfer-Encoding`` beats ``Content-Length``; a request with neither
    has none; a response with neither runs until the connection closes.
    """
    if kind is _Response and (
        status in (204, 304)
        or method == b"HEAD"
        or (method == b"CONNECT" and 200 <= status < 300)  # noqa: PLR2004
    ):
        return _LENGTH, 0
    if facts.chunked:
        return _CHUNKED, 0
    if facts.length is not None:
        return _LENGTH, facts.length
    if kind is _Request:
        return _LENGTH, 0
    return _HTTP10, 0


def _remote(exc: h11.LocalProtocolError) -> h11.RemoteProtocolError:
    return h11.RemoteProtocolError(str(exc), exc.error_status_hint)


def _header_lines(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """``name: value`` pairs, names and values still unchecked.

    An obs-fold line (leading space or tab) is joined to the line before with
    one space, before that line is split, as h11 joins it; whitespace around a
    value is then dropped (OWS).

    Raises:
        h11.RemoteProtocolError: a fold before any header, or a line without
            a colon.
    """
    joined: list[bytes] = []
    for line in lines:
        if line[:1] not in _FOLDS:
            joined.append(line)
        elif joined:
            joined[-1] += b" " + line.lstrip(_OWS)
        else:
            raise h11.RemoteProtocolError("continuation line at start of headers")
    out: list[tuple[bytes, bytes]] = []
    for line in joined:
        name, colon, value = line.partition(b":")
        if not colon:
            raise h11.RemoteProtocolError(f"illegal header line: {line!r}")
        out.append((name, value.strip(_OWS)))
    return out


def _fields(lines: list[bytes]) -> tuple[Headers, _Facts]:
    """A received head's header lines, checked and kept as h11 keeps them.

    Every name must be a token and every value free of control bytes (h11's
    grammar); ``Content-Length`` and ``Transfer-Encoding`` follow h11's rules
    (``_Facts``), and are stored as h11 stores them: one length, ``chunked`` in
    lower case. The event is then built from a ``Headers``, which h11's
    constructors take as already checked.

    Raises:
        h11.RemoteProtocolError: any of that fails.
    """
    pairs = _header_lines(lines)
    lowered: list[tuple[bytes, bytes]] = []
    for name, value in pairs:
        if _NAME(name) is None:
            raise h11.RemoteProtocolError(f"Illegal header name {name!r}")
        if _VALUE(value) is None:
            raise h11.RemoteProtocolError(f"Illegal header value {value!r}")
        lowered.append((name.lower(), value))
    try:
        facts = _Facts(lowered)
    except h11.LocalProtocolError as exc:
        raise _remote(exc) from None
    if facts.length is None and not facts.chunked:  # nothing to store differently
        names = (raw for raw, _ in pairs)
        return Headers(
            [(raw, *low) for raw, low in zip(names, lowered, strict=True)]
        ), facts
    items: list[tuple[bytes, bytes, bytes]] = []
    length_kept = False
    for (raw, _), (name, value) in zip(pairs, lowered, strict=True):
        if name == b"content-length":
            if length_kept:
                continue  # the same length again (_Facts refused any other)
            length_kept = True
            items.append((raw, name, str(facts.length).encode()))
        elif name == b"transfer-encoding":
            items.append((raw, name, b"chunked"))
        else:
            items.append((raw, name, value))
    return Headers(items), facts


class Connection:
    """One HTTP/1.1 connection's framing and state, as the proxy needs it.

    Args:
        our_role: ``h11.CLIENT`` (the proxy talks to an origin) or ``h11.SERVER``
            (a client talks to the proxy).
        max_head: bytes an incomplete head may take before the peer is refused.
    """

    __slots__ = (
        "_body",
        "_buffer",
        "_closed",
        "_continue",
        "_discard",
        "_facts",
        "_keep_alive",
        "_method",
        "_out",
        "_proposals",
        "_remaining",
        "_search",
        "_states",
        "_trailer",
        "max_head",
        "our_role",
        "their_http_version",
        "their_role",
    )

    def __init__(self, our_role: Any, *, max_head: int = MAX_HEAD) -> None:
        if our_role not in (_CLIENT, _SERVER):
            raise ValueError(f"expected CLIENT or SERVER, not {our_role!r}")
        self.our_role = our_role
        self.their_role = _SERVER if our_role is _CLIENT else _CLIENT
        self.max_head = max_head
        self.their_http_version: bytes | None = None
        self._states: dict[Any, Any] = {_CLIENT: _IDLE, _SERVER: _IDLE}
        self._keep_alive = True
        self._proposals: set[str] = set()
        self._method: bytes | None = None
        self._continue = False
        self._buffer = bytearray()
        self._closed = False
        self._search = 0
        # Reading a body: its framing, what is left of it (bytes or of a chunk),
        # the chunk footer still expected, whether the trailer is next.
        self._body = _LENGTH
        self._remaining = 0
        self._discard = b""
        self._trailer = False
        self._facts = _NO_FACTS
        """The last head read's facts."""
        # Writing a body: its framing and, for Content-Length, what is left.
        self._out = [_LENGTH, 0]

    # --- h11.Connection's surface ----------------------------------------------

    @property
    def our_state(self) -> Any:
        """Our side's h11 state."""
        return self._states[self.our_role]

    @property
    def their_state(self) -> Any:
        """The peer's h11 state."""
        return self._states[self.their_role]

    @property
    def they_are_waiting_for_100_continue(self) -> bool:
        """The client sent ``Expect: 100-continue`` and has had no answer yet."""
        return self.their_role is _CLIENT and self._continue

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received but not parsed, and whether the peer closed."""
        return bytes(self._buffer), self._closed

    def receive_data(self, data: bytes) -> None:
        """Add received bytes; ``b""`` means the peer closed its side."""
        if data:
            if self._closed:
                raise RuntimeError("received close, then received more data?")
            self._buffer += data
        else:
            self._closed = True

    def next_event(self) -> Any:
        """The next event from the peer, ``h11.NEED_DATA`` or ``h11.PAUSED``.

        Raises:
            h11.RemoteProtocolError: the peer broke HTTP/1.1; its state is then
                ``ERROR`` for good.
        """
        if self._states[self.their_role] is _ERROR:
            raise h11.RemoteProtocolError("Can't receive data when peer state is ERROR")
        try:
            event = self._extract()
            if event is _NEED_DATA:
                self._check_waiting()
            elif event is not _PAUSED:
                kind = type(event)
                if kind is _Data:  # SEND_BODY stays SEND_BODY: nothing to move
                    self._continue = False
                elif kind is _Request:
                    self._process(
                        _CLIENT,
                        kind,
                        self._facts,
                        method=event.method,
                        version=event.http_version,
                    )
                elif kind is _Response or kind is _Informational:
                    self._process(
                        _SERVER,
                        kind,
                        self._facts,
                        status=event.status_code,
                        version=event.http_version,
                    )
                else:
                    self._body_event(self.their_role, kind)
        except h11.LocalProtocolError as exc:
            self._error(self.their_role)
            raise _remote(exc) from None
        except BaseException:
            self._error(self.their_role)
            raise
        return event

    def send(self, event: Any) -> bytes | None:
        """The bytes for an h11 event, moving our state on; None for ConnectionClosed.

        Heads go through ``send_request`` and ``send_response``.

        Raises:
            h11.LocalProtocolError: the event cannot be sent now; our state is
                then ``ERROR`` for good.
        """
        kind = type(event)
        if kind is _Request or kind is _Response or kind is _Informational:
            if event.http_version != b"1.1":
                raise h11.LocalProtocolError("I only send HTTP/1.1")
            headers = event.headers.raw_items()
            if kind is _Request:
                return self.send_request(event.method, event.target, headers)
            return self.send_response(event.status_code, event.reason, headers)
        if self._states[self.our_role] is _ERROR:
            raise h11.LocalProtocolError("Can't send data when our state is ERROR")
        try:
            if kind is _ConnectionClosed:
                self._process(self.our_role, kind)
                return None
            if self._states[self.our_role] is not _SEND_BODY or (
                kind is not _Data and kind is not _EndOfMessage
            ):
                self._process(self.our_role, kind)  # raises: nothing to write now
            data = self._write_body(event)
            if kind is _Data:  # SEND_BODY stays SEND_BODY: nothing to move
                if self.our_role is _CLIENT:
                    self._continue = False
            else:
                self._body_event(self.our_role, kind)
        except BaseException:
            self._error(self.our_role)
            raise
        return data

    def send_request(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> bytes:
        """The bytes of a request head (HTTP/1.1), every part of it checked first.

        The method must be a token, the target visible ASCII, each header name a
        token and each value free of control bytes and outer whitespace (the
        proxy injects credentials here), with one ``Host`` and framing headers
        h11 would accept.

        Raises:
            h11.LocalProtocolError: any of that fails (naming no header value,
                which may be a secret), or a request cannot be sent now; our
                state is then ``ERROR`` for good.
        """
        if self._states[self.our_role] is _ERROR:
            raise h11.LocalProtocolError("Can't send data when our state is ERROR")
        try:
            self._playing(_CLIENT, "requests")
            block, lowered = _checked_request(method, target, headers)
            self._process(_CLIENT, _Request, _Facts(lowered), method=method)
        except BaseException:
            self._error(self.our_role)
            raise
        return b"%b %b HTTP/1.1\r\n%b" % (method, target, block)

    def send_response(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]
    ) -> bytes:
        """The bytes of a response head (1xx or final), framed for this client.

        Checked as ``send_request`` checks a request (the reason too), then
        framed as h11 frames it: a body of unknown length goes ``chunked`` to an
        HTTP/1.1 client and close-delimited to an HTTP/1.0 one, and
        ``Connection: close`` is set whenever the connection ends after it.

        Raises:
            h11.LocalProtocolError: as ``send_request``.
        """
        if self._states[self.our_role] is _ERROR:
            raise h11.LocalProtocolError("Can't send data when our state is ERROR")
        try:
            self._playing(_SERVER, "responses")
            kind = _checked_status(status, reason)
            if kind is _Response:  # framed first: what goes out is checked below
                given = [(n.lower(), v) for n, v in headers]
                headers = self._frame_response(status, headers, given, _Facts(given))
            block, lowered = _checked(headers)
            self._process(_SERVER, kind, _Facts(lowered), status=status)
        except BaseException:
            self._error(self.our_role)
            raise
        return b"HTTP/1.1 %d %b\r\n%b" % (status, reason, block)

    def start_next_cycle(self) -> None:
        """Both sides are DONE: get ready for the next request on this connection.

        Raises:
            h11.LocalProtocolError: the connection is in any other state.
        """
        states = self._states
        if states[_CLIENT] is not _DONE or states[_SERVER] is not _DONE:
            raise h11.LocalProtocolError(
                f"not in a reusable state. self.states={states}"
            )
        states[_CLIENT] = states[_SERVER] = _IDLE
        self._method = None

    def _playing(self, role: Any, what: str) -> None:
        if self.our_role is not role:
            raise h11.LocalProtocolError(f"only a {role} sends {what}")

    # --- the state machine --------------------------------------------------------

    def _body_event(self, role: Any, kind: Any) -> None:
        """``_process`` for Data, EndOfMessage and ConnectionClosed.

        The usual end of a body (SEND_BODY to DONE) skips the general path.
        """
        states = self._states
        if kind is not _EndOfMessage or states[role] is not _SEND_BODY:
            self._process(role, kind)
            return
        states[role] = _DONE
        if role is _CLIENT:
            self._continue = False
        self._settle()

    def _process(
        self,
        role: Any,
        kind: Any,
        facts: _Facts | None = None,
        *,
        method: bytes = b"",
        status: int = 0,
        version: bytes = b"1.1",
    ) -> None:
        """h11's ``_process_event``: states, keep-alive, 100-continue, framing.

        ``facts``, ``method``, ``status`` and ``version`` describe a head.
        """
        states = self._states
        head = kind is _Request or kind is _Response
        if kind is _Request:
            assert facts is not None  # noqa: S101 -- a head has facts
            if method == b"CONNECT":
                self._proposals.add(_CONNECT)
            if facts.upgrade:
                self._proposals.add(_UPGRADE)
        switch = self._switch(kind, status) if role is _SERVER else None
        before = states[role]
        if switch is None and kind is _Response:
            self._proposals.clear()
        self._move(role, kind if switch is None else (kind, switch))
        if kind is _Request:
            self._move(_SERVER, (_Request, _CLIENT))
            self._method = method
        if facts is not None:  # a head
            self._note_head(role, kind, facts, version)
        elif role is _CLIENT and (kind is _Data or kind is _EndOfMessage):
            self._continue = False
        self._settle()
        if head and before is not states[role] and states[role] is _SEND_BODY:
            assert facts is not None  # noqa: S101 -- a head has facts
            framing, length = _framing(self._method, kind, status, facts)
            if role is self.their_role:
                self._body, self._remaining = framing, length
                self._discard = b""
                self._trailer = False
            else:
                self._out = [framing, length]

    def _switch(self, kind: Any, status: int) -> str | None:
        """The protocol switch a server's head accepts, if any (it must be asked)."""
        switch: str | None = None
        if kind is _Informational and status == 101:  # noqa: PLR2004
            switch = _UPGRADE
        elif kind is _Response and 200 <= status < 300:  # noqa: PLR2004
            switch = _CONNECT if _CONNECT in self._proposals else None
        if switch is not None and switch not in self._proposals:
            raise h11.LocalProtocolError(
                "Received server _SWITCH_UPGRADE event without a pending proposal"
            )
        return switch

    def _note_head(self, role: Any, kind: Any, facts: _Facts, version: bytes) -> None:
        """Keep-alive, the peer's version and 100-continue, from a head."""
        if role is self.their_role:
            self.their_http_version = version
        if (kind is _Request or kind is _Response) and (
            facts.close or version < b"1.1"
        ):
            self._keep_alive = False
        if kind is _Request:
            self._continue = facts.expect and version >= b"1.1"
        else:
            self._continue = False

    def _move(self, role: Any, event_kind: Any) -> None:
        state = self._states[role]
        moves = (_CLIENT_MOVES if role is _CLIENT else _SERVER_MOVES).get(state, {})
        try:
            self._states[role] = moves[event_kind]
        except KeyError:
            name = event_kind[0] if isinstance(event_kind, tuple) else event_kind
            raise h11.LocalProtocolError(
                f"can't handle event type {name.__name__} when role={role} and "
                f"state={state}"
            ) from None

    def _settle(self) -> None:
        """h11's state-triggered transitions, until nothing changes."""
        states = self._states
        while True:
            start = client, server = states[_CLIENT], states[_SERVER]
            if self._proposals and client is _DONE:
                client = _MIGHT_SWITCH
            if not self._proposals and client is _MIGHT_SWITCH:
                client = _DONE
            if not self._keep_alive:
                client = _MUST_CLOSE if client is _DONE else client
                server = _MUST_CLOSE if server is _DONE else server
            client, server = _JOINT.get((client, server), (client, server))
            states[_CLIENT], states[_SERVER] = client, server
            if (client, server) == start:
                return

    def _error(self, role: Any) -> None:
        self._states[role] = _ERROR
        self._settle()

    # --- reading ------------------------------------------------------------------

    def _check_waiting(self) -> None:
        """Refuse a peer whose incomplete head is too long or who closed mid-event."""
        if len(self._buffer) > self.max_head:
            raise h11.RemoteProtocolError("Receive buffer too long", 431)
        if self._closed:
            raise h11.RemoteProtocolError("peer unexpectedly closed connection")

    def _extract(self) -> Any:
        state = self._states[self.their_role]
        buffer = self._buffer
        if state is _DONE and buffer:
            return _PAUSED
        if state is _MIGHT_SWITCH or state is _SWITCHED:
            return _PAUSED
        if state is _SEND_BODY:
            event = self._read_body()
        elif state is _IDLE or state is _SEND_RESPONSE:
            event = self._read_head()
        else:  # DONE, MUST_CLOSE, CLOSED: nothing more may come
            if buffer:
                raise h11.RemoteProtocolError("Got data when expecting EOF")
            event = None
        if event is None:
            if not buffer and self._closed:
                if state is _SEND_BODY:
                    return self._read_eof()
                return _ConnectionClosed()
            return _NEED_DATA
        return event

    def _lines(self) -> list[bytes] | None:
        """Everything up to the first blank line, split into lines; None if short."""
        buffer = self._buffer
        if buffer[:1] == b"\n":
            del buffer[:1]
            return []
        if buffer[:2] == b"\r\n":
            del buffer[:2]
            return []
        match = _BLANK_LINE.search(buffer, self._search)
        if match is None:
            self._search = max(0, len(buffer) - 2)
            return None
        start = match.start()
        if start and buffer[start - 1] == 0x0D:  # noqa: PLR2004 -- the last line's CR
            start -= 1
        head = bytes(buffer[:start])
        del buffer[: match.end()]
        self._search = 0
        return head.replace(b"\r\n", b"\n").split(b"\n")

    def _read_head(self) -> Any:
        lines = self._lines()
        if lines is None:
            buffer = self._buffer
            if buffer and buffer[0] < 0x21:  # noqa: PLR2004 -- TLS, SOCKS, junk
                raise h11.RemoteProtocolError("illegal request line")
            return None
        try:
            if self.their_role is _CLIENT:
                return self._request(lines)
            return self._response(lines)
        except h11.LocalProtocolError as exc:  # the constructor said no
            raise _remote(exc) from None

    def _request(self, lines: list[bytes]) -> Any:
        if not lines:
            raise h11.RemoteProtocolError("no request line received")
        match = _REQUEST_LINE.fullmatch(lines[0])
        if match is None:
            raise h11.RemoteProtocolError(f"illegal request line: {lines[0]!r}")
        headers, self._facts = _fields(lines[1:])
        return _Request(
            method=match["method"],
            target=match["target"],
            headers=headers,
            http_version=match["version"],
        )

    def _response(self, lines: list[bytes]) -> Any:
        if not lines:
            raise h11.RemoteProtocolError("no response line received")
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise h11.RemoteProtocolError(f"illegal status line: {lines[0]!r}")
        status = int(match["status"])
        kind = _Informational if status < 200 else _Response  # noqa: PLR2004
        headers, self._facts = _fields(lines[1:])
        return kind(
            status_code=status,
            headers=headers,
            reason=match["reason"] or b"",
            http_version=match["version"],
        )

    def _take(self, count: int) -> bytes:
        buffer = self._buffer
        data = bytes(buffer[:count])
        del buffer[:count]
        self._search = 0
        return data

    def _read_body(self) -> Any:
        if self._body == _LENGTH:
            if self._remaining == 0:
                return _EOM
            if not self._buffer:
                return None
            data = self._take(self._remaining)
            self._remaining -= len(data)
            return _Data(data=data)
        if self._body == _HTTP10:
            return _Data(data=self._take(len(self._buffer))) if self._buffer else None
        return self._read_chunk()

    def _read_chunk(self) -> Any:
        """h11's ``ChunkedReader``: sizes, footers and the trailer checked."""
        buffer = self._buffer
        if self._trailer:
            lines = self._lines()
            if lines is None:
                return None
            return _EndOfMessage(headers=_fields(lines)[0])
        if self._discard and not self._footer():
            return None
        if self._remaining == 0:
            size = self._chunk_size()
            if size is None:
                return None
            self._remaining = size
            if size == 0:
                self._trailer = True
                return self._read_chunk()
            start = True
        else:
            start = False
        if not buffer:
            return None
        data = self._take(self._remaining)
        self._remaining -= len(data)
        end_of_chunk = self._remaining == 0
        if end_of_chunk:
            self._discard = b"\r\n"
        return _Data(data=data, chunk_start=start, chunk_end=end_of_chunk)

    def _footer(self) -> bool:
        """Take the CRLF after a chunk's data; whether all of it is here."""
        data = self._take(len(self._discard)) if self._buffer else b""
        if not data:
            return False
        if data != self._discard[: len(data)]:
            raise h11.RemoteProtocolError(
                f"malformed chunk footer: {data!r} (expected {self._discard!r})"
            )
        self._discard = self._discard[len(data) :]
        return not self._discard

    def _chunk_size(self) -> int | None:
        """The next chunk's size, or None until its line is whole."""
        buffer = self._buffer
        end = buffer.find(b"\r\n", max(0, self._search - 1))
        if end < 0:
            self._search = len(buffer)
            return None
        line = self._take(end + 2)
        match = _CHUNK_HEADER.fullmatch(line)
        if match is None:
            raise h11.RemoteProtocolError(f"illegal chunk header: {line!r}")
        return int(match["size"], 16)

    def _read_eof(self) -> Any:
        """The peer closed in the middle of a body."""
        if self._body == _HTTP10:
            return _EOM
        if self._body == _LENGTH:
            if self._remaining == 0:
                return _EOM
            raise h11.RemoteProtocolError(
                "peer closed connection without sending complete message body "
                f"({self._remaining} bytes missing)"
            )
        raise h11.RemoteProtocolError(
            "peer closed connection without sending complete message body "
            "(incomplete chunked read)"
        )

    # --- writing ------------------------------------------------------------------

    def _frame_response(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        lowered: list[tuple[bytes, bytes]],
        facts: _Facts,
    ) -> list[tuple[bytes, bytes]]:
        """h11's ``_clean_up_response_headers_for_sending`` (``headers`` if kept)."""
        method = b"GET" if self._method == b"HEAD" else self._method
        framing, _ = _framing(method, _Response, status, facts)
        close = False
        if framing != _LENGTH:
            headers = [
                (n, v)
                for n, v in headers
                if n.lower() not in (b"content-length", b"transfer-encoding")
            ]
            version = self.their_http_version
            if version is None or version < b"1.1":
                close = self._method != b"HEAD"
            else:
                headers.append((b"Transfer-Encoding", b"chunked"))
        if not self._keep_alive or close:
            tokens = {t for n, v in lowered if n == b"connection" for t in _tokens(v)}
            tokens.discard(b"keep-alive")
            tokens.add(b"close")
            headers = [(n, v) for n, v in headers if n.lower() != b"connection"]
            headers += [(b"Connection", token) for token in sorted(tokens)]
        return headers

    def _write_body(self, event: Any) -> bytes:
        framing, left = self._out
        if type(event) is _Data:
            data: bytes = event.data
            if framing == _LENGTH:
                left -= len(data)
                if left < 0:
                    raise h11.LocalProtocolError(
                        "Too much data for declared Content-Length"
                    )
                self._out[1] = left
                return data
            if framing == _CHUNKED:
                return b"%x\r\n%b\r\n" % (len(data), data) if data else b""
            return data
        trailer = list(event.headers.raw_items())
        if framing == _LENGTH:
            if left != 0:
                raise h11.LocalProtocolError(
                    "Too little data for declared Content-Length"
                )
            if trailer:
                raise h11.LocalProtocolError("Content-Length and trailers don't mix")
            return b""
        if framing == _CHUNKED:
            return b"0\r\n" + _checked(trailer)[0]
        if trailer:
            raise h11.LocalProtocolError("can't send trailers to HTTP/1.0 client")
        return b""


def _checked_request(
    method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """``_checked``, and a token method, a visible-ASCII target, one ``Host``."""
    if _METHOD(method) is None:
        raise h11.LocalProtocolError("Illegal method characters")
    if _TARGET(target) is None:
        raise h11.LocalProtocolError("Illegal target characters")
    block, lowered = _checked(headers)
    if sum(1 for name, _ in lowered if name == b"host") != 1:
        raise h11.LocalProtocolError("a request needs exactly one Host header")
    return block, lowered


def _checked_status(status: int, reason: bytes) -> Any:
    """The event kind for ``status``, once it and the reason phrase are valid."""
    if not 100 <= status <= 999:  # noqa: PLR2004
        raise h11.LocalProtocolError("status code out of range")
    if _REASON(reason) is None:
        raise h11.LocalProtocolError("Illegal reason phrase")
    return _Informational if status < 200 else _Response  # noqa: PLR2004


def _checked(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The header block to send, and the headers with lower-case names.

    Every name and value is checked as h11 checks them; ``Host`` goes first
    (RFC 9110 7.2).

    Raises:
        h11.LocalProtocolError: a name that is not a token, or a value with a
            control byte or outer whitespace (CR, LF and NUL included). The
            message names the header, never its value (it may be a secret).
    """
    lowered: list[tuple[bytes, bytes]] = []
    host: list[bytes] = []
    rest: list[bytes] = []
    for name, value in headers:
        if _NAME(name) is None:
            raise h11.LocalProtocolError(f"Illegal header name {name[:64]!r}")
        if _VALUE(value) is None:
            raise h11.LocalProtocolError(f"Illegal value for header {name!r}")
        lower = name.lower()
        lowered.append((lower, value))
        line = b"%b: %b\r\n" % (name, value)
        (host if lower == b"host" else rest).append(line)
    host += rest
    host.append(b"\r\n")
    return b"".join(host), lowered
