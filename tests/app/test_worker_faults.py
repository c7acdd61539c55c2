"""Worker faults with real worker processes: SIGKILL, SIGSTOP past the lease, a job that
kills its worker every time, cancellation within two heartbeats, and cancel racing the
reaper. Leases are short (`FAST_LEASES`: 2 s, heartbeat 0.4 s) so expiry takes seconds."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError

from app.db import Database
from app.models import Job, utcnow
from app.queue import claim, reap
from app.services.jobs import cancel_job
from tests.app.conftest import ScratchDatabase, TeamHandle
from tests.app.worker_helpers import (
    FAST_LEASES,
    all_events,
    get,
    long_job,
    run_worker,
    start_worker,
    stop_worker,
    wait_for,
)


def job_row(engine: Engine, job_id: str) -> Job:
    with Database(engine).session() as session:
        job = session.get(Job, uuid.UUID(job_id))
        assert job is not None
        return job


def loss_steps(client: Any, team: TeamHandle, path: str) -> list[int]:
    series = get(client, team, f"{path}/metrics?name=loss&max_points=10000").json()["series"]
    return [p["step"] for p in series[0]["points"]]


def weights(client: Any, team: TeamHandle, job: dict[str, Any]) -> bytes:
    return get(client, team, f"/v1/jobs/{job['id']}/weights").content


def test_sigkill_mid_job_resumes_bitwise_on_another_worker(
        client: Any, team: TeamHandle, database_url: str, database: ScratchDatabase) -> None:
    job = long_job(client, team)  # 40 epochs x 50 steps, a checkpoint every 30 steps
    path = f"/v1/jobs/{job['id']}"
    first = start_worker(database_url, name="doomed", env=FAST_LEASES)
    try:
        wait_for(lambda: get(client, team, path).json()["progress"]["step"] >= 200)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        stop_worker(first)
    killed_at = job_row(database.engine, job["id"]).step
    twin = long_job(client, team)  # the same job, never interrupted
    second = start_worker(database_url, name="rescuer", env=FAST_LEASES)
    try:
        wait_for(lambda: all(get(client, team, f"/v1/jobs/{j['id']}").json()["status"]
                             == "succeeded" for j in (job, twin)), timeout=120)
    finally:
        stop_worker(second)
    body = get(client, team, path).json()
    assert body["attempts"] == 2, body
    types = [e["type"] for e in all_events(client, team, path)]
    assert types.count("claimed") == 2 and "lease_expired" in types and "resumed" in types
    resumed = next(e for e in all_events(client, team, path) if e["type"] == "resumed")
    assert 0 < resumed["payload"]["step"] <= killed_at
    assert loss_steps(client, team, path) == list(range(1, 2001))  # none twice, none lost
    assert weights(client, team, job) == weights(client, team, twin)  # bitwise


def row_is_unlocked(engine: Engine, job_id: str) -> bool:
    """No transaction holds the job row (nor, on SQLite, the database's write lock)."""
    if engine.dialect.name == "sqlite":
        conn = sqlite3.connect(engine.url.database or "", timeout=0.2, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
        return True
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE NOWAIT"),
                         {"id": uuid.UUID(job_id)})
    except OperationalError:
        return False
    return True


def freeze(worker: subprocess.Popen[str], engine: Engine, job_id: str) -> None:
    """SIGSTOP the worker between transactions (a worker frozen inside one would hold
    its locks, which no lease can break: that is the database's timeout's business)."""
    for _ in range(50):
        worker.send_signal(signal.SIGSTOP)
        if row_is_unlocked(engine, job_id):
            return
        worker.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    pytest.fail("the worker always held a lock")


def test_sigstop_past_the_lease_then_resumed_writes_nothing_and_stops(
        client: Any, team: TeamHandle, database_url: str, database: ScratchDatabase) -> None:
    job = long_job(client, team)
    path = f"/v1/jobs/{job['id']}"
    frozen = start_worker(database_url, name="frozen", env=FAST_LEASES)
    rescuer = None
    try:
        wait_for(lambda: get(client, team, path).json()["progress"]["step"] >= 100)
        freeze(frozen, database.engine, job["id"])
        rescuer = start_worker(database_url, name="rescuer", env=FAST_LEASES)
        wait_for(lambda: job_row(database.engine, job["id"]).lease_epoch == 2, timeout=60)
        frozen.send_signal(signal.SIGCONT)  # wakes up believing it still holds the job
        wait_for(lambda: get(client, team, path).json()["status"] == "succeeded", 120)
    finally:
        frozen.send_signal(signal.SIGCONT)
        output = stop_worker(frozen)
        if rescuer is not None:
            stop_worker(rescuer)
    assert f"job {job['id']}: lost" in output, output[-3000:]
    events = all_events(client, team, path)
    claims = [e for e in events if e["type"] == "claimed"]
    assert [c["payload"]["epoch"] for c in claims] == [1, 2]
    assert claims[0]["payload"]["worker_id"] != claims[1]["payload"]["worker_id"]
    after = events[events.index(claims[1]) + 1:]  # nothing of epoch 1 after the rescue
    assert after and all(e["payload"]["epoch"] == 2 for e in after), after
    assert [e["type"] for e in events].count("succeeded") == 1
    assert loss_steps(client, team, path) == list(range(1, 2001))
    twin = long_job(client, team)
    run_worker(database_url)
    assert weights(client, team, job) == weights(client, team, twin)


def test_a_job_that_kills_its_worker_every_time_fails_after_max_attempts(
        client: Any, team: TeamHandle, database_url: str, database: ScratchDatabase) -> None:
    env = {**FAST_LEASES, "TRAINFORGE_MAX_ATTEMPTS": "2"}
    job = long_job(client, team, epochs=500)
    path = f"/v1/jobs/{job['id']}"
    for attempt in (1, 2):
        worker = start_worker(database_url, name=f"victim{attempt}", env=env)
        try:
            wait_for(lambda a=attempt: (row := job_row(database.engine, job["id"])).attempts
                     == a and row.status == "running" and row.step > 0, timeout=60)
            worker.send_signal(signal.SIGKILL)  # what the job does to every worker
            worker.wait()
        finally:
            stop_worker(worker)
    wait_for(lambda: job_row(database.engine, job["id"]).lease_expires_at < utcnow(), 10)
    run_worker(database_url, env=env)  # its reaper gives up on the job; nothing to claim
    body = get(client, team, path).json()
    assert body["status"] == "failed" and body["attempts"] == 2, body
    assert body["error"]["code"] == "worker_lost", body


def test_cancel_is_seen_within_two_heartbeats(client: Any, team: TeamHandle,
                                              database_url: str) -> None:
    job = long_job(client, team, epochs=500)
    path = f"/v1/jobs/{job['id']}"
    worker = start_worker(database_url, env=FAST_LEASES)
    try:
        wait_for(lambda: get(client, team, path).json()["progress"]["step"] >= 50)
        asked = time.monotonic()
        assert client.post(f"{path}/cancel", headers=team.headers).status_code == 200
        wait_for(lambda: get(client, team, path).json()["status"] == "cancelled", 20)
        took = time.monotonic() - asked
    finally:
        stop_worker(worker)
    heartbeat = float(FAST_LEASES["TRAINFORGE_HEARTBEAT_SECONDS"])
    assert took < 2 * heartbeat + 0.5, took  # two heartbeats, plus a step and the write
    kinds = {c["kind"] for c in get(client, team, f"{path}/checkpoints").json()["items"]}
    assert "epoch" in kinds  # the last checkpoint is kept


def test_cancel_racing_the_reaper_never_resurrects_a_job(
        client: Any, team: TeamHandle, database: ScratchDatabase, database_url: str) -> None:
    db = Database(database.engine)
    jobs = [long_job(client, team, epochs=1) for _ in range(12)]
    with db.session() as session:
        for _ in jobs:
            assert claim(session, "lost-worker", ["cpu"]) is not None
    later = utcnow() + timedelta(minutes=5)  # every lease has expired by then
    for job in jobs:
        race(lambda s, j=job: cancel_job(s, uuid.UUID(team.id), uuid.UUID(j["id"])),
             lambda s: reap(s, now=later), db)
    run_worker(database_url)  # a worker finds nothing to run
    with db.session() as session:
        statuses = session.execute(select(Job.status).where(
            Job.id.in_([uuid.UUID(j["id"]) for j in jobs]))).scalars().all()
    assert statuses == ["cancelled"] * len(jobs)
    for job in jobs:
        types = [e["type"] for e in all_events(client, team, f"/v1/jobs/{job['id']}")]
        assert types[-1] == "cancelled" and types.count("claimed") == 1, types


def race(first: Any, second: Any, db: Database) -> None:
    """Run `first(session)` and `second(session)` in two threads released together."""
    gate = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            with db.session() as session:
                gate.wait()
                fn(session)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
