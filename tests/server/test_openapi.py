import httpx

from enclosure.server._app import ALL_ROUTES
from enclosure.server._openapi import ERROR_SCHEMA, openapi


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
            assert schema["additionalProperties"] is False
    ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values()
    ]
    assert len(ids) == len(set(ids))


def test_the_server_serves_its_schema_without_a_token(server):
    response = httpx.get(server.url + "/openapi.json")
    assert response.status_code == 200
    assert set(response.json()["paths"]) == {r.path for r in ALL_ROUTES}
    assert httpx.get(server.url + "/api/health").json() == {"ok": True}
