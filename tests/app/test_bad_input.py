"""Nothing a client sends produces a 500: every bad request gets a 4xx with the error
shape `{"detail": {"code", "message", "errors"?}}` and, where a field is at fault, its path."""

from __future__ import annotations

import pytest

from tests.app.conftest import ADMIN_TOKEN, TeamHandle, TestClient
from tests.app.helpers import api_operations, error_of, first_loc

JSON = "application/json"
DEEP = b'{"name": "d", "inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b', "targets": [1]}'
BAD_BODIES: list[tuple[str, bytes | str, str]] = [
    ("malformed", b'{"name": ', JSON),
    ("truncated", b'{"name": "x", "inputs": [[1, 2], [3', JSON),
    ("not json at all", b"\x00\xff\xfe garbage", JSON),
    ("invalid utf-8", b'{"name": "\xff\xfe"}', JSON),
    ("wrong content type", b'{"name": "x"}', "text/plain"),
    ("no content type", b'{"name": "x"}', ""),
    ("form content type", b"name=x", "application/x-www-form-urlencoded"),
    ("multipart without boundary", b"--x\r\n", "multipart/form-data"),
    ("multipart garbage", b"--b\r\nnonsense", "multipart/form-data; boundary=b"),
    ("deep nesting", DEEP, JSON),
    ("huge integer", b'{"name": "x", "inputs": [' + b"9" * 5000 + b'], "targets": [1]}', JSON),
    ("big integer name", b'{"name": ' + b"9" * 400 + b"}", JSON),
    ("nan", b'{"name": NaN, "inputs": [NaN], "targets": [Infinity]}', JSON),
    ("nul in string", b'{"name": "a\\u0000b", "inputs": [1], "targets": [1]}', JSON),
    ("raw nul", b'{"name": "a\x00b", "inputs": [1], "targets": [1]}', JSON),
    ("lone surrogate", b'{"name": "\\ud800", "inputs": [1], "targets": [1]}', JSON),
    ("lone surrogate key", b'{"\\udfff": 1, "name": "x"}', JSON),
    ("unknown field", b'{"name": "x", "inputs": [1], "targets": [1], "bogus": 1}', JSON),
    ("array body", b"[1, 2, 3]", JSON),
    ("string body", b'"hello"', JSON),
    ("null body", b"null", JSON),
    ("empty object", b"{}", JSON),
    ("control characters", b'{"name": "\\u0007\\u001b[31m"}', JSON),
]


def _headers(path: str, team: TeamHandle, content_type: str) -> dict[str, str]:
    auth = f"Bearer {ADMIN_TOKEN}" if path == "/v1/teams" else f"Bearer {team.key}"
    return {"Authorization": auth} | ({"content-type": content_type} if content_type else {})


@pytest.mark.parametrize(("label", "body", "content_type"), BAD_BODIES,
                         ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies_get_a_4xx_on_every_route_that_takes_one(
    client: TestClient, team: TeamHandle, label: str, body: bytes, content_type: str
) -> None:
    for method, path in api_operations(client.app):
        if method not in ("POST", "PUT", "PATCH"):
            continue
        response = client.request(method, path, content=body,
                                  headers=_headers(path, team, content_type))
        if path == "/v1/keys" and response.status_code == 201:
            continue  # its body is optional: `{}` and `null` are valid
        assert 400 <= response.status_code < 500, (label, path, response.text)
        error_of(response, response.status_code)
    assert client.get("/v1/datasets", headers=team.headers).json()["items"] == []


@pytest.mark.parametrize(("body", "loc"), [
    (b'{"name": "x", "inputs": [1], "targets": [1], "bogus": 1}', ["body", "bogus"]),
    (b'{"name": "a\\u0000b", "inputs": [1], "targets": [1]}', ["body", "name"]),
    (b'{"name": "\\ud800", "inputs": [1], "targets": [1]}', ["body", 16]),
    (b'{"name": ', ["body", 8]),
    (b'[1]', ["body"]),
])
def test_field_paths_of_bad_dataset_bodies(client: TestClient, team: TeamHandle, body: bytes,
                                           loc: list) -> None:
    response = client.post("/v1/datasets", content=body,
                           headers=_headers("/v1/datasets", team, JSON))
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == loc


def test_unknown_fields_in_team_and_key_bodies(client: TestClient, team: TeamHandle) -> None:
    response = client.post("/v1/teams", json={"name": "x", "admin": True},
                           headers=_headers("/v1/teams", team, JSON))
    assert first_loc(response) == ["body", "admin"]
    response = client.post("/v1/keys", json={"label": "x"}, headers=team.headers)
    assert first_loc(response) == ["body", "label"]
    response = client.post("/v1/keys", json={"name": 7}, headers=team.headers)
    assert first_loc(response) == ["body", "name"]


def test_unknown_routes_and_methods_use_the_error_shape(client: TestClient,
                                                       team: TeamHandle) -> None:
    error_of(client.get("/v1/nothing", headers=team.headers), 404, "not_found")
    error_of(client.put("/v1/datasets", headers=team.headers), 405, "method_not_allowed")
