"""A job's live feed: the `text/event-stream` parsing and the reconnecting follower
behind `Client.stream_events`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from app.client.errors import ApiError, ConnectionFailed, error_from_response
from app.client.models import StreamMessage

if TYPE_CHECKING:
    from app.client.client import Client


def follow_events(client: Client, job_id: str, *, last_event_id: str | None,
                  reconnect: bool, keepalives: bool) -> Iterator[StreamMessage]:
    """`Client.stream_events`: the feed, resumed with `Last-Event-ID` when it drops."""
    path = f"/v1/jobs/{job_id}/events/stream"
    failures = 0
    while True:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            # Keep-alives come every 15 s: a read waits at most a minute.
            with client._http.stream("GET", path, headers=headers,
                                     timeout=httpx.Timeout(30.0, read=60.0)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                for message in _parse_sse(response.iter_lines()):
                    if message.event == "keep-alive" and not keepalives:
                        continue
                    failures = 0
                    if message.id:
                        last_event_id = message.id
                    yield message
                    if message.event == "end":
                        return
            problem: Exception = ConnectionFailed("the event stream closed before its end")
        except httpx.TransportError as exc:
            problem = exc
        failures += 1
        if not reconnect or failures > client.stream_retries:
            if isinstance(problem, ApiError):
                raise problem
            raise ConnectionFailed(f"event stream of job {job_id} from {client.base_url} "
                                   f"failed: {problem or type(problem).__name__}"
                                   ) from problem
        time.sleep(min(client.retry_backoff * 2 ** (failures - 1), 10.0))


def _parse_sse(lines: Iterable[str]) -> Iterator[StreamMessage]:
    """Server-sent events from a stream's lines (the `text/event-stream` rules: `field:
    value`, one leading space dropped, `data` lines joined, comments skipped)."""
    event_id: str | None = None
    event, data = "", []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    payload: Any = json.loads(text)
                except ValueError:
                    payload = text
                yield StreamMessage(event_id, event or "message", payload)
            event, data = "", []
            continue
        if line.startswith(":"):
            yield StreamMessage(None, "keep-alive", None)
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value
