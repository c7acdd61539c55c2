"""`GET /v1/jobs/{id}/events/stream`: server-sent events of a job's lifecycle and metric
points, ending when the job ends, resumable with `Last-Event-ID`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from sqlalchemy.orm import Session

from app.models import JobStatus
from app.queue import claim, finish, write_metrics
from tests.app.conftest import TeamHandle
from tests.app.helpers import create_dataset, mlp_job, submit


def parse(text: str) -> list[dict[str, Any]]:
    """SSE text as messages {id, event, data}; comment lines are skipped."""
    messages = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if not line.startswith(":"))
        if fields:
            messages.append({"id": fields["id"], "event": fields["event"],
                             "data": json.loads(fields["data"])})
    return messages


def stream(client: Any, team: TeamHandle, job_id: str, last: str | None = None
           ) -> list[dict[str, Any]]:
    headers = {**team.headers, **({"Last-Event-ID": last} if last else {})}
    with client.stream("GET", f"/v1/jobs/{job_id}/events/stream", headers=headers) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return parse(r.read().decode())


def run_job_in_steps(session: Session, steps: int, pause: float = 0.0) -> None:
    job = claim(session, "w1", ["cpu"])
    assert job is not None
    for step in range(1, steps + 1):
        write_metrics(session, job.job_id, job.lease_epoch, [("loss", step, 1.0 / step)])
        time.sleep(pause)
    finish(session, job.job_id, job.lease_epoch, JobStatus.SUCCEEDED)


def test_a_finished_job_streams_its_history_then_ends(
        client: Any, team: TeamHandle, session: Session) -> None:
    job = submit(client, team.headers, mlp_job(create_dataset(client, team.headers)))
    run_job_in_steps(session, 3)
    messages = stream(client, team, job["id"])
    kinds = [(m["event"], m["data"].get("type") or m["data"].get("name")) for m in messages]
    assert kinds == [("status", "created"), ("status", "claimed"), ("status", "succeeded"),
                     ("metric", "loss"), ("metric", "loss"), ("metric", "loss"),
                     ("end", None)]
    assert [m["data"]["step"] for m in messages if m["event"] == "metric"] == [1, 2, 3]
    assert messages[-1]["data"] == {"status": "succeeded"}
    assert len({m["id"] for m in messages[:-1]}) == len(messages) - 1

    resumed = stream(client, team, job["id"], last=messages[2]["id"])
    assert resumed == messages[3:]  # everything after that message, and nothing before


def test_the_stream_follows_a_running_job_until_it_ends(
        client: Any, team: TeamHandle, session: Session) -> None:
    job = submit(client, team.headers, mlp_job(create_dataset(client, team.headers)))
    worker = threading.Thread(target=run_job_in_steps, args=(session, 5, 0.3))
    worker.start()
    try:
        messages = stream(client, team, job["id"])
    finally:
        worker.join()
    assert [m["data"]["step"] for m in messages if m["event"] == "metric"] == [1, 2, 3, 4, 5]
    assert messages[-1]["event"] == "end"


def test_stream_errors(client: Any, team: TeamHandle, other_team: TeamHandle) -> None:
    job = submit(client, team.headers, mlp_job(create_dataset(client, team.headers)))
    path = f"/v1/jobs/{job['id']}/events/stream"
    assert client.get(path, headers=other_team.headers).status_code == 404
    assert client.get(f"/v1/jobs/{uuid.uuid4()}/events/stream",
                      headers=team.headers).status_code == 404
    bad = client.get(path, headers={**team.headers, "Last-Event-ID": "nonsense"})
    assert bad.status_code == 400 and bad.json()["detail"]["code"] == "bad_cursor"
    assert client.get(path).status_code == 401
