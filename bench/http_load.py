"""A closed-loop HTTP load generator for the service benchmarks: N keep-alive clients,
each sending one prepared request after another, timing each.

httpx's AsyncClient pool is itself the bottleneck at 50 concurrent connections (about
200 req/s against a server that answers 5000), so the load is generated with asyncio
streams instead.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class Connection:
    """A minimal keep-alive HTTP/1.1 client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, raw: bytes) -> int:
        """Send a prepared request; read the whole response; return its status."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in lines
                      if line.lower().startswith(b"content-length:"))
        await self.reader.readexactly(length)
        return int(lines[0].split()[1])

    def close(self) -> None:
        self.writer.close()


def prepare(method: str, path: str, headers: Mapping[str, str],
            body: dict | None = None) -> bytes:
    """The bytes of one HTTP/1.1 request (JSON body if any)."""
    content = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in
             headers.items()), f"Content-Length: {len(content)}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + content


@dataclass
class Load:
    latencies_ms: list[float]
    errors: int  # responses with status >= 400
    seconds: float


async def closed_loop(raw: bytes, ports: list[int], concurrency: int, seconds: float,
                      warm_s: float, on_start: Callable[[], None] | None = None) -> Load:
    """`concurrency` clients (spread over `ports`) send `raw` for `warm_s` unrecorded,
    then (`on_start()` called) for `seconds`, recording each latency."""
    connections = [await Connection.open(ports[i % len(ports)]) for i in range(concurrency)]
    latencies: list[float] = []
    errors = 0

    async def client(conn: Connection, stop: float, record: bool) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            start = time.perf_counter()
            status = await conn.request(raw)
            if record:
                latencies.append((time.perf_counter() - start) * 1000)
                errors += status >= 400

    try:
        warm = time.perf_counter() + warm_s
        await asyncio.gather(*(client(c, warm, False) for c in connections))
        if on_start is not None:
            on_start()
        begin = time.perf_counter()
        await asyncio.gather(*(client(c, begin + seconds, True) for c in connections))
        return Load(latencies, errors, time.perf_counter() - begin)
    finally:
        for conn in connections:
            conn.close()
