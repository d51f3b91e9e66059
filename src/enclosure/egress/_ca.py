"""The per-run certificate authority that lets the proxy see inside HTTPS.

When a network rule names methods, paths or a credential, the proxy terminates the
sandboxed client's TLS with a leaf certificate for the requested host, signed by a
CA that exists for one run only and that only the sandbox trusts (``trust_bundle``
goes into ``SSL_CERT_FILE`` and friends). The upstream side is verified normally
(``upstream_context``).

Keys stay in this process. ``ssl.SSLContext.load_cert_chain`` only reads files, so
each leaf is handed to it through an anonymous in-memory file (``memfd_create``,
opened again as ``/proc/self/fd/N``) that has no name in any file system and is
closed as soon as OpenSSL has read it. Where that is not available the leaf key is
written encrypted, under a random password held only in memory, to a private
temporary file (``mkstemp``: mode 0600) that is deleted right after loading. Either
way nothing is left behind, so there is nothing for ``close`` to clean up but the
cache.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["RunCA", "upstream_context"]

_SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_SKEW = dt.timedelta(minutes=5)  # leaves are valid a little before "now"
_MAX_CN = 64  # RFC 5280 upper bound for commonName
_ALPN = ["http/1.1"]  # the proxy speaks HTTP/1.1 (h11) on both sides


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _normalise(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise ValueError("a certificate needs a host name")
    return host


def _subject_alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    return x509.DNSName(host)


class RunCA:
    """A per-run CA (EC P-256, SHA-256), in memory; leaf certificates per host.

    Thread-safe. Leaves are made on first use and cached for the CA's lifetime,
    which should cover the run (``valid_s``).
    """

    def __init__(
        self, *, name: str = "Enclosure run CA", valid_s: float = 86400
    ) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        self._not_before = now - _SKEW
        self._not_after = now + dt.timedelta(seconds=valid_s)
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        public = self._key.public_key()
        self._ski = x509.SubjectKeyIdentifier.from_public_key(public)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(self._ski, critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem: bytes = self.cert.public_bytes(serialization.Encoding.PEM)
        """The CA certificate alone, PEM: what the sandbox is told to trust."""
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._memfd = hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir()

    def __repr__(self) -> str:
        subject = self.cert.subject.rfc4514_string()
        return f"RunCA({subject!r}, hosts={len(self._contexts)})"

    def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context presenting a leaf for ``host`` (a name or an IP).

        Args:
            host: what the client asked for in CONNECT; brackets, case and a
                trailing dot do not matter.

        Returns:
            The same context for the same host every time.
        """
        host = _normalise(host)
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = self._make_context(host)
                self._contexts[host] = context
            return context

    def trust_bundle(self, system: Path | None = None) -> bytes:
        """The system's CA bundle followed by this CA, for ``SSL_CERT_FILE``.

        Args:
            system: the bundle to start from; by default Debian's
                ``/etc/ssl/certs/ca-certificates.crt``, else OpenSSL's default
                ``cafile``, else none (the result is then this CA alone).
        """
        if system is None:
            default = ssl.get_default_verify_paths().cafile
            system = _SYSTEM_BUNDLE
            if not system.is_file() and default is not None:
                system = Path(default)
        base = system.read_bytes() if system.is_file() else b""
        if base and not base.endswith(b"\n"):
            base += b"\n"
        return base + self.cert_pem

    def close(self) -> None:
        """Forget the cached leaves; contexts already handed out keep working."""
        with self._lock:
            self._contexts.clear()

    # --- leaves -------------------------------------------------------------------

    def _leaf(self, host: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        names = (
            [x509.NameAttribute(NameOID.COMMON_NAME, host)]
            if len(host) <= _MAX_CN
            else []
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(names))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(max(self._not_before, _now() - _SKEW))
            .not_valid_after(self._not_after)
            # An empty subject makes the SAN extension critical (RFC 5280 4.2.1.6).
            .add_extension(
                x509.SubjectAlternativeName([_subject_alt_name(host)]),
                critical=not names,
            )
            .add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    self._ski
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return cert, key

    def _make_context(self, host: str) -> ssl.SSLContext:
        cert, key = self._leaf(host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(_ALPN)
        chain = cert.public_bytes(serialization.Encoding.PEM)  # the root stays out
        if self._memfd:
            _load_from_memory(context, chain, key)
        else:
            _load_from_private_file(context, chain, key)
        return context


def _load_from_memory(
    context: ssl.SSLContext, chain: bytes, key: ec.EllipticCurvePrivateKey
) -> None:
    """Load through an anonymous memory file: the key never has a path on disk."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.memfd_create("enclosure-leaf", os.MFD_CLOEXEC)
    try:
        os.write(fd, chain + pem)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _load_from_private_file(
    context: ssl.SSLContext, chain: bytes, key: ec.EllipticCurvePrivateKey
) -> None:
    """Load through a 0600 temporary file holding the key encrypted, then delete it."""
    password = secrets.token_bytes(32)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    fd, name = tempfile.mkstemp(prefix="enclosure-leaf-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(chain + pem)
        context.load_cert_chain(name, password=password)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(name).unlink()


def upstream_context(cafile: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the real upstream (hostname and chain).

    Create it once per proxy and reuse it: loading the system store takes a few
    milliseconds.

    Args:
        cafile: trust only this bundle (tests' own CA); the system store when None.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(_ALPN)
    return context
