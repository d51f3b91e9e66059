import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from enclosure._webhook import SIGNATURE_HEADER, Webhook, sign_body
from enclosure.server import Notifier
from enclosure.server._notify import message_for
from enclosure.testing import decision_event


class Flaky:
    """A loopback receiver that answers 500 to the first ``failures`` posts."""

    def __init__(self, failures):
        self.failures = failures
        self.bodies = []
        self.attempts = 0
        self.cond = threading.Condition()
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with flaky.cond:
                    flaky.attempts += 1
                    ok = flaky.attempts > flaky.failures
                    if ok:
                        flaky.bodies.append((dict(self.headers.items()), body))
                    flaky.cond.notify_all()
                self.send_response(200 if ok else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.bodies) >= count, 10)
            return list(self.bodies)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_only_what_needs_a_human_is_announced():
    assert message_for(decision_event(1)) is None


def test_stopping_the_server_stops_the_webhook_senders(make_server):
    # The lifespan called notifier.close() after an await that its cancelled task
    # group cancelled: it never ran, and every sender thread outlived its server.
    flaky = Flaky(failures=0)
    hook = Webhook(flaky.url)
    running = make_server(notifier=Notifier([hook]))
    try:
        agent = running.client("agent")
        run_id = agent.start_run("t")["run_id"]
        agent.call(run_id, "pay", {"amount": 1})
        assert hook.flush(10)
        senders = [
            t for t in threading.enumerate() if t.name == f"webhook {hook.where}"
        ]
        assert senders
        running.server.stop()
        assert not any(t.is_alive() for t in senders)
    finally:
        flaky.close()


def test_new_approvals_and_kills_are_posted_signed_and_retried(make_server):
    flaky = Flaky(failures=2)
    hook = Webhook(flaky.url, secret=b"s3cret", retries=3, backoff=0)
    running = make_server(notifier=Notifier([hook]))
    try:
        agent = running.client("agent")
        run_id = agent.start_run("t")["run_id"]
        approval_id = agent.call(run_id, "pay", {"amount": 1})["approval_id"]
        running.client("operator").kill(run_id, "runaway")
        received = flaky.wait_for(3)  # approval, kill, and the kill's alert
    finally:
        flaky.close()
    texts = []
    for headers, body in received:
        assert headers[SIGNATURE_HEADER] == sign_body(b"s3cret", body)
        texts.append(json.loads(body)["text"])
    assert approval_id in texts[0]
    assert "killed" in texts[1]
    assert "alert" in texts[2]
    assert flaky.attempts == 5  # two failures, retried
