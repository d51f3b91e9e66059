import doctest

import httpx
import pytest

from enclosure.errors import UsageError
from enclosure.server import Server, _hosts
from enclosure.server._hosts import HostCheck, default_hosts


def get(server, path, host):
    return httpx.get(server.url + path, headers={"Host": host})


@pytest.mark.parametrize("path", ["/api/health", "/openapi.json", "/ui/login"])
def test_a_foreign_host_is_refused_before_any_route(server, path):
    response = get(server, path, "attacker.example:8350")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "E-HTTP-HOST"


@pytest.mark.parametrize("host", ["[localhost]evil.example", "[127.0.0.1].evil:80"])
def test_a_bracketed_name_with_a_tail_is_refused(server, host):
    assert get(server, "/api/health", host).status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_the_loopback_names_are_served(server, host):
    response = get(server, "/api/health", f"{host}:{server.server.port}")
    assert response.status_code == 200


def test_allowed_hosts_and_their_subdomains_are_served(server):
    with Server(server.enc, allowed_hosts=["*.corp.example", "ctl.example"]) as other:
        for host, status in [
            ("ctl.example", 200),
            ("a.corp.example", 200),
            ("corp.example", 400),
            ("ctl.example.evil", 400),
        ]:
            assert get(other, "/api/health", host).status_code == status, host


EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 -- only named, never bound


def test_a_wildcard_bind_needs_the_names_clients_use():
    with pytest.raises(UsageError) as exc:
        default_hosts(EVERY_INTERFACE)
    assert exc.value.code == "E-USAGE-HOST"
    assert default_hosts(EVERY_INTERFACE, ["ctl.example"]) == ["ctl.example"]
    assert HostCheck(None, default_hosts("::", ["*"])).permits("anything")
    assert default_hosts("10.1.2.3") == ["10.1.2.3"]
    assert set(default_hosts("[::1]")) == {"::1", "localhost", "127.0.0.1"}


def test_the_docstring_examples_hold():
    assert doctest.testmod(_hosts).failed == 0
