"""`Idempotency-Key`: one job per (team, key), even under 50 concurrent submissions to a
real uvicorn server; a reused key with another body is a 409."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from app.main import create_app
from app.models import Job, JobEvent
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient, make_settings
from tests.app.helpers import create_dataset, error_of, first_loc, mlp_job

CONCURRENCY = 50


def _post(client: TestClient, team: TeamHandle, body: dict, key: str) -> httpx.Response:
    return client.post("/v1/jobs", json=body, headers=team.headers | {"Idempotency-Key": key})


def test_same_key_and_body_returns_the_original_job(client: TestClient, team: TeamHandle,
                                                    other_team: TeamHandle) -> None:
    body = mlp_job(create_dataset(client, team.headers), labels={"run": "1"})
    first = _post(client, team, body, "abc")
    assert first.status_code == 201
    client.post(f"/v1/jobs/{first.json()['id']}/cancel", headers=team.headers)
    again = _post(client, team, body, "abc")
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "cancelled"  # the job as it is now
    # Key order and whitespace do not matter: the body is compared as JSON.
    reordered = client.post("/v1/jobs", content=__import__("json").dumps(
        dict(reversed(list(body.items()))), indent=2), headers=team.headers | {
        "Idempotency-Key": "abc", "content-type": "application/json"})
    assert reordered.status_code == 200 and reordered.json()["id"] == first.json()["id"]
    # Keys are per team.
    theirs = _post(client, other_team, mlp_job(create_dataset(client, other_team.headers)),
                   "abc")
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


def test_same_key_with_another_body_is_a_conflict(client: TestClient, team: TeamHandle) -> None:
    dataset_id = create_dataset(client, team.headers)
    assert _post(client, team, mlp_job(dataset_id), "k").status_code == 201
    for changed in (mlp_job(dataset_id, epochs=4), mlp_job(dataset_id, name="renamed"),
                    mlp_job(dataset_id, priority=1)):
        error_of(_post(client, team, changed, "k"), 409, "idempotency_key_reused")
    # An invalid body is refused as such, before the key is looked at.
    error_of(_post(client, team, mlp_job(dataset_id, epochs=0), "k"), 422)
    assert len(client.get("/v1/jobs", headers=team.headers).json()["items"]) == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "has space", "é", "tab\there"])
def test_malformed_keys_are_422(client: TestClient, team: TeamHandle, key: str) -> None:
    dataset_id = create_dataset(client, team.headers)
    response = client.post("/v1/jobs", json=mlp_job(dataset_id),
                           headers=team.headers | {"Idempotency-Key": key.encode("utf-8")})
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == ["header", "Idempotency-Key"]


@pytest.fixture
def server_url(database: ScratchDatabase) -> Iterator[str]:
    """A real uvicorn server on `database`, in a thread, on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = create_app(make_settings(database.url, db_pool_size=20, db_max_overflow=40))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_concurrent_identical_submissions_create_one_job(
    server_url: str, client: TestClient, team: TeamHandle, database: ScratchDatabase
) -> None:
    body = mlp_job(create_dataset(client, team.headers))
    headers = team.headers | {"Idempotency-Key": "burst"}
    barrier = threading.Barrier(CONCURRENCY)

    def submit_once(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=server_url, timeout=30) as http:
            barrier.wait()
            response = http.post("/v1/jobs", json=body, headers=headers)
        return response.status_code, response.json().get("id", response.text)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(submit_once, range(CONCURRENCY)))
    assert Counter(status for status, _ in results) == {201: 1, 200: CONCURRENCY - 1}, results
    assert len({job_id for _, job_id in results}) == 1
    with database.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Job)) == 1
        assert conn.scalar(select(func.count()).select_from(JobEvent)) == 1


def test_racing_inserts_lose_to_the_unique_constraint_and_replay(
    database: ScratchDatabase, client: TestClient, team: TeamHandle,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Service level, concurrent sessions: every thread passes the key look-ups before any
    inserts (PostgreSQL: inside its own open write transaction), so all but one insert
    fail on the unique constraint and return the winner's job."""
    from app.db import Database
    from app.schemas.jobs import JobCreate
    from app.services import job_submit

    threads = 10
    body = JobCreate.model_validate(mlp_job(create_dataset(client, team.headers)))
    settings = make_settings(database.url)
    db = Database.from_settings(settings)
    team_id = __import__("uuid").UUID(team.id)
    in_transaction = threading.Barrier(threads)
    by_key = job_submit._by_key
    lookups = threading.local()

    def look_then_wait(*args: object) -> object:
        found = by_key(*args)  # type: ignore[arg-type]
        lookups.count = getattr(lookups, "count", 0) + 1
        # The second look-up of a thread is the one in its write transaction.
        if lookups.count == 2 and database.engine.dialect.name == "postgresql":
            in_transaction.wait(timeout=10)  # (SQLite serializes writers)
        return found

    monkeypatch.setattr(job_submit, "_by_key", look_then_wait)
    lost_races = Counter[str]()
    replay = job_submit._replay

    def counting_replay(*args: object) -> object:
        lost_races["lookups"] += 1
        return replay(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(job_submit, "_replay", counting_replay)

    def submit_once(_: int) -> tuple[bool, str]:
        with db.session() as session:
            result = job_submit.submit_job(session, team_id, body, settings,
                                           idempotency_key="race")
            assert result.view is not None
            return result.created, str(result.view.job.id)

    try:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(submit_once, range(threads)))
    finally:
        db.dispose()
    assert sorted(created for created, _ in results) == [False] * (threads - 1) + [True]
    assert len({job_id for _, job_id in results}) == 1
    if database.engine.dialect.name == "postgresql":
        assert lost_races["lookups"] == threads + threads - 1  # fast path, then after losing
