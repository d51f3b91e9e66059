import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from enclosure.egress._ca import RunCA, upstream_context


@pytest.fixture(scope="module")
def ca():
    return RunCA(name="test run CA", valid_s=3600)


def client_trusting(pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=pem.decode())
    return context


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, server_hostname: str):
    """One real TLS handshake on loopback; returns (leaf certificate, ALPN, echo)."""
    server_error: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        port = listener.getsockname()[1]

        def serve():
            try:
                conn, _ = listener.accept()
                conn.settimeout(5)
                with server.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(tls.recv(16))
            except (OSError, ssl.SSLError) as exc:
                server_error.append(exc)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                tls.sendall(b"ping")
                echo = tls.recv(16)
                der = tls.getpeercert(binary_form=True)
                alpn = tls.selected_alpn_protocol()
        finally:
            thread.join(5)
    assert not thread.is_alive()
    assert der is not None
    return x509.load_der_x509_certificate(der), alpn, echo


def test_ca_certificate_is_a_p256_ca_limited_to_signing_leaves(ca):
    cert = x509.load_pem_x509_certificate(ca.cert_pem)
    assert ca.cert_pem.count(b"BEGIN CERTIFICATE") == 1
    assert b"PRIVATE KEY" not in ca.cert_pem
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca
    assert basic.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    assert cert.subject.rfc4514_string() == "CN=test run CA"
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(hours=1)


def test_client_trusting_only_the_run_ca_accepts_its_leaf_for_a_dns_name(ca):
    leaf, alpn, echo = handshake(
        ca.server_context("api.test"), client_trusting(ca.cert_pem), "api.test"
    )
    assert echo == b"ping"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["api.test"]
    assert alpn is None  # the client offered none


def test_leaf_is_a_short_lived_server_certificate_chained_to_the_ca(ca):
    leaf, _, _ = handshake(
        ca.server_context("leaf.test"), client_trusting(ca.cert_pem), "leaf.test"
    )
    root = x509.load_pem_x509_certificate(ca.cert_pem)
    leaf.verify_directly_issued_by(root)
    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    extensions = leaf.extensions
    assert not extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert leaf.not_valid_after_utc <= root.not_valid_after_utc
    assert leaf.not_valid_before_utc >= root.not_valid_before_utc
    assert leaf.serial_number != root.serial_number


@pytest.mark.parametrize(
    ("host", "expected"), [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1")]
)
def test_ip_hosts_get_an_ip_san_that_hostname_checking_accepts(ca, host, expected):
    leaf, _, _ = handshake(
        ca.server_context(host), client_trusting(ca.cert_pem), expected
    )
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(expected)]
    assert san.get_values_for_type(x509.DNSName) == []


def test_hostname_verification_fails_for_another_name(ca):
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(
            ca.server_context("api.test"), client_trusting(ca.cert_pem), "other.test"
        )


def test_a_client_that_does_not_trust_the_run_ca_refuses_its_leaf(ca):
    stranger = RunCA()
    with pytest.raises(
        ssl.SSLCertVerificationError, match="unable to get local issuer"
    ):
        handshake(
            ca.server_context("api.test"),
            client_trusting(stranger.cert_pem),
            "api.test",
        )


def test_server_offers_http_1_1_by_alpn(ca):
    client = client_trusting(ca.cert_pem)
    client.set_alpn_protocols(["h2", "http/1.1"])
    _, alpn, _ = handshake(ca.server_context("alpn.test"), client, "alpn.test")
    assert alpn == "http/1.1"


def test_leaves_are_cached_per_normalised_host(ca):
    first = ca.server_context("Cache.Test.")
    assert ca.server_context("cache.test") is first
    assert ca.server_context("other.cache.test") is not first
    assert ca.server_context("[::1]") is ca.server_context("::1")


def test_close_forgets_leaves_but_handed_out_contexts_keep_working():
    ca = RunCA()
    context = ca.server_context("api.test")
    ca.close()
    assert ca.server_context("api.test") is not context
    leaf, _, echo = handshake(context, client_trusting(ca.cert_pem), "api.test")
    assert echo == b"ping"
    assert "api.test" in leaf.subject.rfc4514_string()


def test_a_leaf_leaves_no_file_descriptor_open():
    ca = RunCA()
    before = set(Path("/proc/self/fd").iterdir())
    ca.server_context("fd.test")
    assert set(Path("/proc/self/fd").iterdir()) <= before


def test_without_memfd_the_key_goes_through_a_file_deleted_at_once(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ca = RunCA()
    ca._memfd = False
    _, _, echo = handshake(
        ca.server_context("file.test"), client_trusting(ca.cert_pem), "file.test"
    )
    assert echo == b"ping"
    assert list(tmp_path.iterdir()) == []


def test_long_host_names_get_an_empty_subject_and_a_critical_san(ca):
    host = ".".join(["a" * 60, "b" * 60, "test"])
    leaf, _, _ = handshake(ca.server_context(host), client_trusting(ca.cert_pem), host)
    assert len(leaf.subject) == 0
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_an_empty_host_is_refused(ca):
    with pytest.raises(ValueError, match="host name"):
        ca.server_context(" . ")


def test_trust_bundle_holds_the_system_cas_and_the_run_ca(ca):
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    if not system.is_file():
        pytest.skip("no Debian CA bundle here")
    bundle = ca.trust_bundle()
    assert bundle.startswith(system.read_bytes())
    assert bundle.endswith(ca.cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=bundle.decode())
    assert context.cert_store_stats()["x509_ca"] > 1
    _, _, echo = handshake(ca.server_context("bundle.test"), context, "bundle.test")
    assert echo == b"ping"


def test_trust_bundle_from_a_given_file_is_joined_on_a_new_line(ca, tmp_path):
    other = RunCA()
    given = tmp_path / "bundle.pem"
    given.write_bytes(other.cert_pem.rstrip(b"\n"))
    bundle = ca.trust_bundle(given)
    assert bundle == other.cert_pem + ca.cert_pem
    assert ca.trust_bundle(tmp_path / "missing.pem") == ca.cert_pem


def test_upstream_context_verifies_against_the_given_ca_file(ca, tmp_path):
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(ca.cert_pem)
    context = upstream_context(str(cafile))
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    _, alpn, echo = handshake(ca.server_context("up.test"), context, "up.test")
    assert (alpn, echo) == ("http/1.1", b"ping")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ca.server_context("up.test"), context, "wrong.test")


def test_upstream_context_without_a_file_uses_the_system_store(ca):
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ca.server_context("up.test"), upstream_context(), "up.test")
