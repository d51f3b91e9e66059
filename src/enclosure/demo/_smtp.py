"""A real SMTP server on loopback that keeps every message it receives."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes
from typing import TYPE_CHECKING, Any, Self

from aiosmtpd.controller import Controller

if TYPE_CHECKING:
    from email.message import Message

__all__ = ["SmtpSink"]

_ATTEMPTS = 5


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002 -- aiosmtpd's hook name and signature
        self._sink.received(
            envelope.mail_from, list(envelope.rcpt_tos), envelope.content
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SmtpSink:
    """aiosmtpd on 127.0.0.1, on a port that was free; stops on ``__exit__``."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []
        self.senders: list[str] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.host = "127.0.0.1"
        self.port = 0

    def received(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> None:
        """Keep one delivered message."""
        with self._lock:
            self.senders.append(mail_from)
            self.messages.append(message_from_bytes(content))
            self.recipients.append(rcpt_tos)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def start(self) -> Self:
        """Start on a free loopback port (retrying if another process takes it).

        Raises:
            OSError: no port could be bound after several attempts.
        """
        last: OSError | None = None
        for _ in range(_ATTEMPTS):
            port = _free_port()
            controller = Controller(_Handler(self), hostname=self.host, port=port)
            try:
                controller.start()
            except (OSError, RuntimeError) as exc:
                last = exc if isinstance(exc, OSError) else OSError(str(exc))
                continue
            self._controller, self.port = controller, port
            return self
        msg = f"could not start the SMTP sink on loopback: {last}"
        raise OSError(msg)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
