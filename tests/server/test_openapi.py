import httpx
import pytest

from enclosure.server import _api
from enclosure.server._app import ALL_ROUTES
from enclosure.server._openapi import ERROR_SCHEMA, openapi


def _shapes(schema, document):
    """The object schemas a body may take: itself, or each of its ``oneOf``."""
    shared = document["components"]["schemas"]
    if "oneOf" not in schema:
        return [schema]
    refs = [one["$ref"] for one in schema["oneOf"]]
    assert all(ref.startswith("#/components/schemas/") for ref in refs)
    return [shared[ref.rsplit("/", 1)[1]] for ref in refs]


def test_every_route_is_documented_with_its_body_and_errors():
    document = openapi(ALL_ROUTES, version="1")
    assert document["openapi"] == "3.1.0"
    for route in ALL_ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["x-role-permission"] == route.permission
        assert (
            operation["responses"]["401"]["content"]["application/json"]["schema"]
            == ERROR_SCHEMA
        )
        if route.body is not None:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            for shape in _shapes(schema, document):
                assert shape["additionalProperties"] is False
    escalate = document["paths"]["/api/runs/{run_id}/escalations"]["post"]
    body = escalate["requestBody"]["content"]["application/json"]["schema"]
    kinds = {shape["properties"]["kind"]["const"] for shape in _shapes(body, document)}
    assert kinds == {"tool", "host", "limit"}
    ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values()
    ]
    assert len(ids) == len(set(ids))


def test_the_server_serves_its_schema_without_a_token(server):
    response = httpx.get(server.url + "/openapi.json")
    assert response.status_code == 200
    assert set(response.json()["paths"]) == {r.path for r in ALL_ROUTES}
    assert httpx.get(server.url + "/api/health").json() == {"ok": True}


def test_query_parameters_are_documented_on_gets_with_the_bounds_enforced():
    document = openapi(ALL_ROUTES, version="1")
    params = {
        (route.method, route.path, p["name"]): p["schema"]
        for route in ALL_ROUTES
        for p in document["paths"][route.path][route.method.lower()]["parameters"]
        if p["in"] == "query"
    }
    assert {method for method, _, _ in params} == {"GET"}
    assert params["GET", "/api/runs", "limit"]["maximum"] == _api._MAX_LIMIT
    wait = params["GET", "/api/approvals/{approval_id}/wait", "timeout"]
    assert wait["maximum"] == _api._MAX_WAIT
    status = params["GET", "/api/approvals", "status"]
    assert tuple(status["enum"]) == _api._APPROVAL_STATUSES


def test_a_wrong_method_is_a_coded_405_allowing_every_method_of_the_path(server):
    response = httpx.delete(server.url + "/api/runs")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "E-HTTP-METHOD"
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {
        "GET",
        "HEAD",
        "POST",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"name": "n", "role": "viewer", "ttl_seconds": True},
        {"name": "n", "role": "viewer", "ttl_seconds": "60"},
        {"name": 5, "role": "viewer"},
    ],
)
def test_bodies_are_strict_no_value_is_coerced(server, body):
    response = httpx.post(
        server.url + "/api/tokens",
        json=body,
        headers={"Authorization": f"Bearer {server.tokens['admin']}"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "E-REQUEST-INVALID"
    assert len(server.enc.log.list_tokens()) == 5
