"""A run's network and identity layers: its egress proxy, CA and credential broker.

Made the first time a run with ``network`` rules runs a sandboxed command. Each
command gets a listening socket inside its own network namespace
(``127.0.0.1:3128``, the only address it can reach), served by this run's proxy
and attributed to whoever runs the command: a tool (and its call) or the agent.
The program is told through the usual variables (``HTTP_PROXY``, ``HTTPS_PROXY``,
``SSL_CERT_FILE``, ``NODE_EXTRA_CA_CERTS``, ...); a program that ignores them has
no network at all. Every request is logged as an ``EgressEvent``. When the run
ends or is killed, open connections are cut and run-scoped credentials revoked.

Hosts granted to the run by an escalation (``_grants``) are looked up when the
manifest's rules refuse a request, only while the run is running; a lookup that
fails grants nothing. A request a grant allowed is logged with the rule
``escalation.<approval id>``, and its first one marks the grant in use.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from enclosure._clock import iso
from enclosure._grants import RULE, grants, host_grants, use
from enclosure.audit import EgressEvent
from enclosure.egress._ca import RunCA
from enclosure.egress._proxy import EgressProxy
from enclosure.egress._rules import HostGrant, Principal
from enclosure.errors import EnclosureError
from enclosure.identity import CredentialBroker
from enclosure.sandbox import Mount
from enclosure.sandbox._netns import listen_in_netns

if TYPE_CHECKING:
    from collections.abc import Callable

    from enclosure._run import Run
    from enclosure.egress._proxy import Binding, RequestRecord
    from enclosure.egress._ssrf import Resolver
    from enclosure.sandbox import StartHook

__all__ = ["PROXY_PORT", "RunEgress", "proxy_env"]

logger = logging.getLogger("enclosure")

PROXY_PORT = 3128
"""The proxy's port on the loopback of every sandbox's own network namespace."""
CA_PATH = "/etc/enclosure/ca-bundle.pem"
"""Where the sandbox finds the system CAs plus the run's CA."""


def proxy_env(port: int = PROXY_PORT, ca_path: str = CA_PATH) -> dict[str, str]:
    """The variables that point common clients at the proxy and the run's CA."""
    url = f"http://127.0.0.1:{port}"
    env = {}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = url
    env["NO_PROXY"] = env["no_proxy"] = ""
    for name in (
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "PIP_CERT",
        "GIT_SSL_CAINFO",
        "AWS_CA_BUNDLE",
    ):
        env[name] = ca_path
    env["NODE_USE_ENV_PROXY"] = "1"  # Node 24+: fetch() honours HTTP(S)_PROXY
    return env


class RunEgress:
    """The proxy, CA and broker of one run; thread-safe."""

    def __init__(
        self,
        run: Run,
        *,
        resolver: Resolver | None = None,
        upstream_ca: str | None = None,
    ) -> None:
        """Start the run's proxy.

        Args:
            run: the run whose sandboxed commands get this network.
            resolver: DNS for the proxy (the system's by default).
            upstream_ca: a PEM bundle the proxy trusts for upstream servers
                instead of the system's; ``$ENCLOSURE_EGRESS_CA_FILE`` by default
                (a corporate CA, or a test CA).
        """
        enc = run._enc  # noqa: SLF001 -- wiring inside the facade
        upstream_ca = upstream_ca or os.environ.get("ENCLOSURE_EGRESS_CA_FILE") or None
        self.run = run
        self._enc = enc
        manifest = enc.manifest
        self.ca = RunCA(name=f"Enclosure run {run.id}")
        self.broker = (
            CredentialBroker(manifest.credentials, clock=enc.clock)
            if manifest.credentials
            else None
        )
        self.proxy = EgressProxy(
            manifest.network,
            broker=self.broker,
            ca=self.ca,
            on_record=self._record,
            resolver=resolver,
            upstream_ca=upstream_ca,
            clock=enc.clock,
            grants=self._grants,
        )
        self._dir = Path(tempfile.mkdtemp(prefix="enclosure-egress-"))
        self._dir.chmod(0o755)
        bundle = self._dir / "ca-bundle.pem"
        bundle.write_bytes(self.ca.trust_bundle())
        bundle.chmod(0o644)
        self.mount = Mount(bundle, CA_PATH)
        self.env = proxy_env()
        self._lock = threading.Lock()
        self._bindings: set[Binding] = set()
        self._closed = False
        self._known: set[str] = set()
        self._used: set[str] = set()
        self.proxy.start()

    def hook(self, principal: str, call_id: str | None = None) -> StartHook:
        """The ``on_start`` hook that gives one command its way out."""
        who = Principal(run_id=self.run.id, name=principal, call_id=call_id)

        def attach(pid: int) -> Callable[[], None]:
            sock = listen_in_netns(pid, PROXY_PORT)
            with self._lock:
                if self._closed:
                    sock.close()
                    msg = f"run {self.run.id} is over; its network is closed"
                    raise OSError(msg)
                binding = self.proxy.serve(sock, who)
                self._bindings.add(binding)

            def detach() -> None:
                with self._lock:
                    self._bindings.discard(binding)
                binding.close()

            return detach

        return attach

    def kill(self) -> None:
        """Cut every open connection of the run now (the kill switch)."""
        with self._lock:
            bindings = list(self._bindings)
        for binding in bindings:
            binding.close()

    def close(self) -> None:
        """Stop the proxy, revoke the run's credentials, forget the CA; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            bindings, self._bindings = list(self._bindings), set()
        for binding in bindings:
            binding.close()
        self.proxy.close()
        if self.broker is not None:
            self.broker.revoke_run(self.run.id)
        self.ca.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _grants(self, run_id: str) -> tuple[HostGrant, ...]:
        """The hosts granted to this run, while it runs; none when in doubt."""
        if run_id != self.run.id or self.run.status != "running":
            return ()
        try:
            return host_grants(self._enc, run_id)
        except EnclosureError:
            logger.warning("could not read the host grants of run %s", run_id)
            return ()

    def _use(self, rule: str) -> None:
        """Mark the grant behind ``rule`` in use, the first time it allows."""
        if rule in self._used:
            return
        approval_id = rule.removeprefix(RULE)
        for grant in grants(self._enc, self.run.id):
            if grant.approval_id == approval_id:
                use(self._enc, grant)
        self._used.add(rule)  # only once marked: a failed mark is tried again

    def _record(self, rec: RequestRecord) -> None:
        enc = self._enc
        if self.broker is not None:
            # Materialised secrets are redacted from the whole log from now on.
            for secret in self.broker.secrets():
                if secret not in self._known:
                    self._known.add(secret)
                    enc.redactor.add_secret(secret)
        fields = dataclasses.asdict(rec)
        who = fields.pop("principal")
        fields["path"] = enc.redactor.redact_text(rec.path)
        fields["reason"] = enc.redactor.redact_text(rec.reason)
        enc.log.append(
            EgressEvent(
                run_id=self.run.id,
                ts=iso(enc.clock.time()),
                principal=who["name"],
                call_id=who["call_id"],
                **fields,
            )
        )
        if rec.outcome == "allowed" and rec.rule and rec.rule.startswith(RULE):
            self._use(rec.rule)
