"""JSON webhooks sent from a background thread, HMAC-signed when given a secret.

Checkpoint copies and monitoring alerts both leave the process this way. Sending
never blocks the caller: payloads queue and one daemon thread posts them in order.
A failed delivery is logged (the URL without its query, never the secret or the
body) and counted; it never raises into the code that produced the payload.

A delivery that fails (a network error or a non-2xx status) is retried up to
``retries`` more times, waiting ``backoff`` seconds, doubled after each try.

The signature header is ``X-Enclosure-Signature: sha256=<hex HMAC-SHA256 of the
body>``; a receiver recomputes it over the raw body with the shared secret.

Stdlib only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["SIGNATURE_HEADER", "Webhook", "sign_body"]

logger = logging.getLogger("enclosure")

SIGNATURE_HEADER = "X-Enclosure-Signature"
_STOP = object()


def sign_body(secret: bytes, body: bytes) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Webhook:
    """POSTs JSON payloads to ``url`` in order, from its own thread.

    Args:
        url: an ``http`` or ``https`` URL.
        secret: signs each body with HMAC-SHA256 when given.
        timeout: seconds for one delivery.
        retries: further attempts after a failed delivery.
        backoff: seconds before the first retry; doubled for each later one.

    Raises:
        ValueError: the URL is not http(s).
    """

    def __init__(
        self,
        url: str,
        *,
        secret: bytes | None = None,
        timeout: float = 5.0,
        retries: int = 0,
        backoff: float = 0.5,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            msg = "a webhook URL must be http:// or https:// with a host"
            raise ValueError(msg)
        self.url = url
        self.where = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self._secret = secret
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._queue: queue.Queue[object] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self.delivered = 0
        self.failed = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Webhook {self.where}>"

    def send(self, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for delivery; returns at once."""
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        with self._idle:
            self._pending += 1
        self._ensure_thread()
        self._queue.put(body)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued payload is delivered or failed; ``False`` if not."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (bounded by ``timeout``) and stop the thread."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"webhook {self.where}", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is _STOP:
                return
            assert isinstance(body, bytes)  # noqa: S101 -- only send() queues bodies
            ok = self._post(body)
            delay = self._backoff
            for _ in range(self._retries):
                if ok:
                    break
                time.sleep(delay)  # the sender's own thread: nobody waits on it
                delay *= 2
                ok = self._post(body)
            with self._idle:
                if ok:
                    self.delivered += 1
                else:
                    self.failed += 1
                self._pending -= 1
                self._idle.notify_all()

    def _post(self, body: bytes) -> bool:
        headers = {"Content-Type": "application/json", "User-Agent": "enclosure"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign_body(self._secret, body)
        request = urllib.request.Request(  # noqa: S310 -- scheme checked in __init__
            self.url, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 -- scheme checked in __init__
                response.read()
        except (OSError, ValueError) as exc:
            logger.warning("webhook %s failed: %s", self.where, type(exc).__name__)
            return False
        return True
