"""``SmtpSink``: a real SMTP server on loopback that keeps what it receives."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from enclosure.demo import SmtpSink

TIMEOUT = 5


def send(sink: SmtpSink, to: str = "ops@customers.example") -> None:
    msg = EmailMessage()
    msg["From"] = "billing@vendor.example"
    msg["To"] = to
    msg["Subject"] = "Your invoice"
    msg.set_content("Invoice INV-1: 10.00 EUR")
    with smtplib.SMTP(sink.host, sink.port, timeout=TIMEOUT) as smtp:
        smtp.send_message(msg)


def test_a_sink_receives_and_counts_a_message_sent_with_smtplib():
    with SmtpSink() as sink:
        assert sink.host == "127.0.0.1"
        assert sink.port > 0
        assert sink.count == 0
        send(sink)
        assert sink.count == 1
        [message] = sink.messages
        assert message["Subject"] == "Your invoice"
        assert "INV-1" in message.get_payload()
        assert sink.recipients == [["ops@customers.example"]]


def test_every_message_is_counted():
    with SmtpSink() as sink:
        for n in range(3):
            send(sink, to=f"user{n}@customers.example")
        assert sink.count == 3
        assert [r[0] for r in sink.recipients] == [
            f"user{n}@customers.example" for n in range(3)
        ]


def test_a_stopped_sink_refuses_connections():
    sink = SmtpSink().start()
    port = sink.port
    sink.stop()
    with pytest.raises(OSError):  # noqa: PT011 -- refused or reset: both OSError
        smtplib.SMTP(sink.host, port, timeout=TIMEOUT)


def test_stop_is_harmless_twice_and_before_start():
    SmtpSink().stop()
    sink = SmtpSink().start()
    sink.stop()
    sink.stop()


def test_two_sinks_at_once_get_different_ports():
    with SmtpSink() as first, SmtpSink() as second:
        assert first.port != second.port
        send(first)
        send(second)
        send(second)
        assert (first.count, second.count) == (1, 2)


def test_a_sink_that_cannot_bind_raises_oserror(monkeypatch):
    attempts: list[int] = []

    class Unbindable:
        def __init__(self, _handler, *, hostname, port):
            assert hostname == "127.0.0.1"
            attempts.append(port)

        def start(self):
            msg = "address in use"
            raise RuntimeError(msg)

    monkeypatch.setattr("enclosure.demo._smtp.Controller", Unbindable)
    with pytest.raises(OSError):  # noqa: PT011 -- OSError is the documented failure
        SmtpSink().start()
    assert len(attempts) > 1  # it retried on other free ports
