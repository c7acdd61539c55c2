"""The OpenAPI document and the docs UI: every route documented, with examples and the
bearer security scheme that gives Swagger UI its Authorize button."""

from __future__ import annotations

from typing import Any

import pytest

from tests.app.conftest import TestClient

PUBLIC = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_docs_ui_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger-ui" in response.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/docs"


def test_bearer_schemes_and_security_on_every_protected_route(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["TeamKey"] == {**schemes["TeamKey"], "type": "http", "scheme": "bearer"}
    assert schemes["AdminToken"]["scheme"] == "bearer"
    for method, path, operation in _operations(spec):
        if path in PUBLIC:
            assert "security" not in operation, path
        elif path == "/v1/teams":
            assert operation["security"] == [{"AdminToken": []}]
        else:
            assert operation["security"] == [{"TeamKey": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


def test_every_operation_is_described_with_examples(spec: dict[str, Any]) -> None:
    assert len(list(_operations(spec))) >= 10
    for method, path, operation in _operations(spec):
        where = f"{method.upper()} {path}"
        assert operation.get("summary") and operation.get("description"), where
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            schema = _resolve(spec, body["application/json"]["schema"])
            assert schema.get("examples"), f"{where}: request example"
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get("application/json")
            if content:
                schema = _resolve(spec, content["schema"])
                assert schema.get("examples"), f"{where} {status}: response example"
        for status in (s for s in operation["responses"] if s >= "400"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/ErrorResponse"), f"{where} {status}"
