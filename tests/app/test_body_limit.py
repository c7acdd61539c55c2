"""The body size limit is enforced while reading: 413 before buffering the whole body."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from app.middleware import BodySizeLimitMiddleware
from tests.app.conftest import TeamHandle, TestClient
from tests.app.helpers import XOR, error_of

LIMIT = 1024


@pytest.fixture
def small(make_client) -> TestClient:
    return make_client(max_body_bytes=LIMIT)


def _json_of_size(size: int) -> bytes:
    body = json.dumps(XOR).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_declared_oversized_body_is_413(small: TestClient, team: TeamHandle) -> None:
    response = small.post("/v1/datasets", content=_json_of_size(LIMIT + 1),
                          headers={**team.headers, "content-type": "application/json"})
    error_of(response, 413, "body_too_large")


def test_body_at_the_limit_is_accepted(small: TestClient, team: TeamHandle) -> None:
    response = small.post("/v1/datasets", content=_json_of_size(LIMIT),
                          headers={**team.headers, "content-type": "application/json"})
    assert response.status_code == 201, response.text


def test_unbounded_chunked_body_is_cut_off_at_the_limit(small: TestClient,
                                                       team: TeamHandle) -> None:
    """An endless body without Content-Length, streamed lazily (httpx's ASGI transport
    pulls a chunk per `receive`; the test client would read it all first)."""
    sent = itertools.count()

    async def endless() -> AsyncIterator[bytes]:
        yield b'{"name": "x", "inputs": ['
        for _ in sent:
            yield b"1," * 100

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=small.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v1/datasets", content=endless(), headers={
                **team.headers, "content-type": "application/json"})

    response = asyncio.run(post())
    assert "content-length" not in response.request.headers
    error_of(response, 413, "body_too_large")
    assert next(sent) <= LIMIT // 200 + 2  # reading stopped right after the limit


def test_oversized_multipart_upload_is_413(small: TestClient, team: TeamHandle) -> None:
    response = small.post("/v1/datasets/upload/csv", headers=team.headers,
                          data={"name": "x", "target_column": "y"},
                          files={"file": ("a.csv", b"a,y\n" + b"1,2\n" * 1000)})
    error_of(response, 413, "body_too_large")
    chunked = small.post("/v1/datasets/upload/csv", headers={
        **team.headers, "content-type": "multipart/form-data; boundary=b"},
        content=(b"--b\r\n" + b"x" * 100 for _ in range(100)))
    error_of(chunked, 413, "body_too_large")


def _call(middleware: BodySizeLimitMiddleware, headers: list[tuple[bytes, bytes]],
          chunks: list[bytes]) -> tuple[int, bytes]:
    messages: list[dict] = []
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
             for i, c in enumerate(chunks)]

    async def receive() -> dict:
        return queue.pop(0)

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


def test_middleware_refuses_invalid_content_length_and_counts_chunks() -> None:
    async def echo_app(scope: dict, receive, send) -> None:
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    middleware = BodySizeLimitMiddleware(echo_app, max_body_bytes=10)
    for bad in (b"-1", b"abc", b"1e3", b"9" * 30):
        status, body = _call(middleware, [(b"content-length", bad)], [b""])
        assert status == 400 and b"bad_content_length" in body
    assert _call(middleware, [(b"content-length", b"11")], [b"x" * 11])[0] == 413
    assert _call(middleware, [], [b"x" * 5, b"x" * 5]) == (200, b"10")
    with pytest.raises(Exception) as raised:  # the app itself never sees byte 11
        _call(middleware, [], [b"x" * 6, b"x" * 5])
    assert getattr(raised.value, "status_code", None) == 413
