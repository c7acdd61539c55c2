"""The worker's parts below the process: the lease heartbeat thread, the LISTEN/NOTIFY
waiter, the API's reaper and checkpoint retention, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database, transaction
from app.models import Job, JobCheckpoint, JobEvent, utcnow
from app.queue import LeaseLost, LeaseState, claim, reap
from app.queue.wakeup import Waiter
from app.services.jobs import cancel_job
from app.worker.heartbeat import Heartbeat, Progress
from app.worker.outputs import save_checkpoint
from app.worker.writer import BackgroundWriter
from tests.app.conftest import ScratchDatabase, TeamHandle
from tests.app.helpers import create_dataset, mlp_job, submit


def fresh(session: Session, job_id: uuid.UUID) -> Job:
    with transaction(session):
        return session.execute(select(Job).where(Job.id == job_id)
                               .execution_options(populate_existing=True)).scalar_one()


def test_the_heartbeat_keeps_a_lease_through_a_step_longer_than_it(
        db: Database, session: Session, add_job: Callable[..., uuid.UUID]) -> None:
    job_id = add_job()
    claimed = claim(session, "w1", ["cpu"], lease_s=1.0)
    assert claimed is not None
    with Heartbeat(db, job_id, claimed.lease_epoch, lease_s=1.0, interval_s=0.2) as beat:
        beat.report(Progress(step=10, epoch=0, total_steps=110, samples_per_second=64.0))
        time.sleep(0.3)
        beat.report(Progress(step=20, epoch=0, total_steps=110, samples_per_second=64.0))
        time.sleep(2.5)  # one "training step" of 2.5 leases
        assert reap(session).total == 0  # nothing expired: the heartbeat renewed it
        row = fresh(session, job_id)
        assert row.status == "running" and row.lease_expires_at > utcnow()
        assert row.step == 20 and row.samples_per_second == 64.0
        assert row.eta_at is not None and row.eta_at > utcnow()  # 90 steps to go
        assert beat.beats >= 8 and beat.state == LeaseState.OK


def test_the_heartbeat_reports_a_cancel_and_a_lost_lease(
        db: Database, session: Session, add_job: Callable[..., uuid.UUID],
        team_id: uuid.UUID) -> None:
    first, second = add_job(), add_job()
    a = claim(session, "w1", ["cpu"])
    b = claim(session, "w1", ["cpu"])
    assert a is not None and b is not None
    with Heartbeat(db, a.job_id, a.lease_epoch, lease_s=1.0, interval_s=0.1) as beat:
        cancel_job(session, team_id, a.job_id)
        deadline = time.monotonic() + 0.5  # two heartbeats and some slack
        while beat.state != LeaseState.CANCEL_REQUESTED and time.monotonic() < deadline:
            time.sleep(0.02)
        assert beat.state == LeaseState.CANCEL_REQUESTED
    with Heartbeat(db, b.job_id, b.lease_epoch, lease_s=1.0, interval_s=0.1) as beat:
        reap(session, now=utcnow() + timedelta(minutes=5))  # the lease is taken away
        beat.join(timeout=2)
        assert beat.state == LeaseState.LOST and not beat.is_alive()
    assert {first, second} == {a.job_id, b.job_id}


def test_an_idle_worker_wakes_on_notify(client: Any, team: TeamHandle,
                                        database: ScratchDatabase) -> None:
    dataset_id = create_dataset(client, team.headers)
    waiter = Waiter(database.url, threading.Event())
    try:
        if database.engine.dialect.name == "sqlite":
            assert not waiter.listens  # SQLite: polling only
            started = time.monotonic()
            waiter.wait(0.2)
            assert 0.15 < time.monotonic() - started < 1.0
            return
        assert waiter.listens
        waiter.wait(0.01)  # connects and LISTENs
        woke: list[float] = []
        thread = threading.Thread(target=lambda: (waiter.wait(30), woke.append(
            time.monotonic())))
        thread.start()
        time.sleep(0.2)
        submitted = time.monotonic()
        submit(client, team.headers, mlp_job(dataset_id))
        thread.join(timeout=10)
        assert woke and woke[0] - submitted < 2.0, "NOTIFY did not wake the waiter"
    finally:
        waiter.close()


def test_a_stop_request_interrupts_a_wait(database: ScratchDatabase) -> None:
    stop = threading.Event()
    waiter = Waiter(database.url, stop)
    try:
        threading.Timer(0.2, stop.set).start()
        started = time.monotonic()
        waiter.wait(30)
        assert time.monotonic() - started < 2.0
    finally:
        waiter.close()


def test_the_api_reaper_requeues_expired_leases(
        make_client: Callable[..., Any], session: Session,
        add_job: Callable[..., uuid.UUID]) -> None:
    job_id = add_job()
    assert claim(session, "gone", ["cpu"], lease_s=0.2) is not None
    make_client(reap_interval_seconds=0.2)  # its lifespan starts the reaper
    deadline = time.monotonic() + 10
    while fresh(session, job_id).status != "queued":
        assert time.monotonic() < deadline, "the API's reaper did not run"
        time.sleep(0.1)
    with transaction(session):
        types = list(session.execute(select(JobEvent.type).where(JobEvent.job_id == job_id)
                                     .order_by(JobEvent.id)).scalars())
    assert types[-1] == "lease_expired"


def kept(session: Session, job_id: uuid.UUID) -> list[int]:
    with transaction(session):
        return sorted(session.execute(select(JobCheckpoint.step)
                                      .where(JobCheckpoint.job_id == job_id)).scalars())


def test_retention_keeps_the_latest_k_and_the_best(
        session: Session, add_job: Callable[..., uuid.UUID]) -> None:
    job_id = add_job()
    job = claim(session, "w1", ["cpu"])
    assert job is not None
    scores = {10: 0.9, 20: 0.2, 30: 0.5, 40: None, 50: 0.7, 60: 0.6}
    for step, score in scores.items():
        save_checkpoint(session, job_id, job.lease_epoch, step=step, epoch=step // 10,
                        data=f"state {step}".encode(), kind="epoch", score=score,
                        summary={"val_loss": score} if score is not None else {}, keep=3)
    assert kept(session, job_id) == [20, 40, 50, 60]  # latest 3 and the best (0.2)
    with pytest.raises(LeaseLost):  # fenced like every worker write
        save_checkpoint(session, job_id, job.lease_epoch + 1, step=70, epoch=7,
                        data=b"x", keep=3)
    assert kept(session, job_id) == [20, 40, 50, 60]


def test_the_background_writer_keeps_order_and_hands_back_the_first_error(
        db: Database) -> None:
    done: list[int] = []

    def write(i: int) -> Callable[[Session], None]:
        def run(_session: Session) -> None:
            time.sleep(0.01)
            if i == 3:
                raise LeaseLost(uuid.uuid4(), 1)
            done.append(i)
        return run

    with BackgroundWriter(db, depth=2) as writer:
        for i in range(3):
            writer.submit(write(i))
        writer.drain()
        assert done == [0, 1, 2]
        writer.submit(write(3))
        writer.submit(write(4))  # skipped: an earlier write failed
        with pytest.raises(LeaseLost):
            writer.drain()
    assert done == [0, 1, 2]
