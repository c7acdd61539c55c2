"""The queue layer (app.queue) on SQLite and PostgreSQL: claims, leases, fencing,
release, the reaper and resume, against the real migrated databases."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import Database, transaction
from app.models import Job, JobCheckpoint, JobEvent, JobMetric, Worker, utcnow
from app.queue import (
    DEFAULT_LEASE_S,
    LeaseLost,
    LeaseState,
    claim,
    fenced,
    finish,
    reap,
    register_worker,
    release,
    renew_lease,
    worker_heartbeat,
    write_metrics,
)
from app.services.jobs import cancel_job
from tests.app.conftest import ScratchDatabase

LATER = timedelta(seconds=DEFAULT_LEASE_S + 1)  # every lease claimed now has expired by then


def job_row(session: Session, job_id: uuid.UUID) -> Job:
    with session.begin():
        return session.execute(select(Job).where(Job.id == job_id)
                               .execution_options(populate_existing=True)).scalar_one()


def events(session: Session, job_id: uuid.UUID) -> list[str]:
    with session.begin():
        return list(session.execute(select(JobEvent.type).where(JobEvent.job_id == job_id)
                                    .order_by(JobEvent.id)).scalars())


def metric_steps(session: Session, job_id: uuid.UUID) -> list[tuple[str, int]]:
    with session.begin():
        return [tuple(r) for r in session.execute(  # type: ignore[misc]
            select(JobMetric.name, JobMetric.step).where(JobMetric.job_id == job_id)
            .order_by(JobMetric.name, JobMetric.step))]


def expire_all(session: Session, **kwargs: Any) -> Any:
    return reap(session, now=utcnow() + LATER, **kwargs)


def test_workers_register_and_heartbeat(session: Session) -> None:
    worker_id = register_worker(session, "w", "host-1", "cuda")
    with session.begin():
        worker = session.get(Worker, worker_id)
        assert worker is not None
        assert (worker.name, worker.host, worker.device) == ("w", "host-1", "cuda")
        before = worker.heartbeat_at
    assert worker_heartbeat(session, worker_id, now=before + timedelta(seconds=5))
    with session.begin():
        worker = session.get(Worker, worker_id, populate_existing=True)
        assert worker is not None and worker.heartbeat_at == before + timedelta(seconds=5)
    assert not worker_heartbeat(session, "nobody")
    with pytest.raises(ValueError):
        register_worker(session, "w", "h", "tpu")


def test_claim_takes_highest_priority_then_oldest(session: Session, add_job) -> None:
    old_low = add_job(priority=0, age_s=100)
    new_low = add_job(priority=0, age_s=0)
    new_high = add_job(priority=5, age_s=0)
    old_high = add_job(priority=5, age_s=50)
    order = [claim(session, "w1", ["cpu"]) for _ in range(4)]
    assert [c.job_id for c in order if c] == [old_high, new_high, old_low, new_low]
    assert claim(session, "w1", ["cpu"]) is None
    first = order[0]
    assert first is not None
    assert (first.lease_epoch, first.attempt, first.resumed) == (1, 1, False)
    assert first.spec == {"device": "auto"}
    job = job_row(session, old_high)
    assert (job.status, job.worker_id, job.attempts, job.lease_epoch) == ("running", "w1", 1, 1)
    assert job.lease_expires_at is not None and job.lease_expires_at > utcnow()
    assert job.started_at is not None
    assert events(session, old_high) == ["claimed"]


def test_claim_serves_only_jobs_the_worker_can_run(session: Session, add_job) -> None:
    cuda = add_job(device="cuda", priority=9)
    cpu = add_job(device="cpu")
    auto = add_job(device="auto")
    unset = add_job(device=None)
    claimed = [claim(session, "cpu-worker", ["cpu"]) for _ in range(4)]
    assert {c.job_id for c in claimed if c} == {cpu, auto, unset}
    assert claimed[3] is None
    assert job_row(session, cuda).status == "queued"
    got = claim(session, "gpu-worker", ["cuda", "cpu"])
    assert got is not None and got.job_id == cuda


@pytest.mark.parametrize("threads", [4])
def test_concurrent_claimers_never_share_a_job(database: ScratchDatabase, db: Database,
                                               add_job, threads: int) -> None:
    per_thread = 25 if database.engine.dialect.name == "postgresql" else 10
    job_ids = {add_job(priority=i % 3) for i in range(threads * per_thread)}
    barrier = threading.Barrier(threads)
    claimed: list[list[uuid.UUID]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            with db.session() as s:
                barrier.wait()
                while (got := claim(s, f"w{i}", ["cpu"])) is not None:
                    claimed[i].append(got.job_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert not errors, errors
    counts = Counter(j for ids in claimed for j in ids)
    assert set(counts) == job_ids and set(counts.values()) == {1}
    with db.session() as s, s.begin():
        assert s.execute(select(func.count()).select_from(Job)
                         .where(Job.status == "running", Job.lease_epoch == 1)
                         ).scalar_one() == len(job_ids)


def test_lost_lease_fences_every_write(session: Session, add_job) -> None:
    job_id = add_job()
    first = claim(session, "w1", ["cpu"])
    assert first is not None
    assert write_metrics(session, job_id, first.lease_epoch, [("loss", 1, 0.9)]) == 1
    assert renew_lease(session, job_id, first.lease_epoch) == LeaseState.OK

    assert expire_all(session).requeued == 1
    second = claim(session, "w2", ["cpu"])
    assert second is not None and second.lease_epoch == first.lease_epoch + 1
    assert second.resumed and second.checkpoint_step is None
    assert metric_steps(session, job_id) == []  # no checkpoint: the resume starts over
    before = events(session, job_id)

    old = first.lease_epoch
    with pytest.raises(LeaseLost):
        write_metrics(session, job_id, old, [("loss", 1, 0.5), ("loss", 2, 0.4)])
    with pytest.raises(LeaseLost):
        finish(session, job_id, old, "succeeded")
    with pytest.raises(LeaseLost):
        release(session, job_id, old)
    assert renew_lease(session, job_id, old) == LeaseState.LOST
    job = job_row(session, job_id)
    assert (job.status, job.worker_id, job.lease_epoch) == ("running", "w2", 2)
    assert metric_steps(session, job_id) == []
    assert events(session, job_id) == before

    write_metrics(session, job_id, second.lease_epoch, [("loss", 1, 0.5)])
    finish(session, job_id, second.lease_epoch, "succeeded")
    job = job_row(session, job_id)
    assert (job.status, job.worker_id, job.lease_expires_at) == ("succeeded", None, None)
    assert job.finished_at is not None
    with pytest.raises(LeaseLost):  # a finished job takes no more writes, even same epoch
        write_metrics(session, job_id, second.lease_epoch, [("loss", 2, 0.1)])
    assert events(session, job_id) == ["claimed", "lease_expired", "claimed", "succeeded"]


def test_finish_failed_records_the_reason(session: Session, add_job) -> None:
    job_id = add_job()
    got = claim(session, "w", ["cpu"])
    assert got is not None
    with pytest.raises(ValueError):
        finish(session, job_id, got.lease_epoch, "queued")
    finish(session, job_id, got.lease_epoch, "failed", "nan_loss", "loss became NaN")
    job = job_row(session, job_id)
    assert (job.status, job.error_code, job.error_message) == ("failed", "nan_loss",
                                                               "loss became NaN")


def test_release_requeues_without_counting_an_attempt(session: Session, add_job) -> None:
    job_id = add_job()
    got = claim(session, "w1", ["cpu"])
    assert got is not None and got.attempt == 1
    assert release(session, job_id, got.lease_epoch) == "queued"
    job = job_row(session, job_id)
    assert (job.status, job.attempts, job.worker_id, job.lease_expires_at) == (
        "queued", 0, None, None)
    again = claim(session, "w2", ["cpu"])
    assert again is not None
    assert (again.attempt, again.lease_epoch, again.resumed) == (1, 2, True)
    assert events(session, job_id) == ["claimed", "released", "claimed"]


def test_release_of_a_cancel_requested_job_cancels_it(session: Session, add_job,
                                                      team_id: uuid.UUID) -> None:
    job_id = add_job()
    got = claim(session, "w1", ["cpu"])
    assert got is not None
    cancel_job(session, team_id, job_id)
    assert renew_lease(session, job_id, got.lease_epoch) == LeaseState.CANCEL_REQUESTED
    assert release(session, job_id, got.lease_epoch) == "cancelled"
    assert job_row(session, job_id).status == "cancelled"
    assert claim(session, "w2", ["cpu"]) is None


def test_reaper_gives_up_after_max_attempts_with_worker_lost(session: Session,
                                                             add_job) -> None:
    job_id = add_job()
    live = add_job(priority=-1)
    for attempt in (1, 2, 3):
        got = claim(session, f"w{attempt}", ["cpu"])
        assert got is not None and (got.job_id, got.attempt) == (job_id, attempt)
        assert reap(session, max_attempts=3).total == 0  # the lease has not expired yet
        counts = expire_all(session, max_attempts=3)
        assert (counts.requeued, counts.failed) == ((1, 0) if attempt < 3 else (0, 1))
    job = job_row(session, job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "worker_lost", 3)
    assert job.finished_at is not None and job.worker_id is None
    assert events(session, job_id).count("lease_expired") == 2
    assert events(session, job_id)[-1] == "failed"
    got = claim(session, "w4", ["cpu"])
    assert got is not None and got.job_id == live  # the failed job is never claimed again


def test_expired_lease_of_a_cancel_requested_job_ends_cancelled(
        session: Session, add_job, team_id: uuid.UUID) -> None:
    job_id = add_job()
    got = claim(session, "w1", ["cpu"])
    assert got is not None
    cancel_job(session, team_id, job_id)
    counts = expire_all(session)
    assert (counts.cancelled, counts.requeued, counts.failed) == (1, 0, 0)
    job = job_row(session, job_id)
    assert (job.status, job.worker_id, job.lease_expires_at) == ("cancelled", None, None)
    assert claim(session, "w2", ["cpu"]) is None  # never resurrected
    assert expire_all(session).total == 0
    assert events(session, job_id)[-2:] == ["cancel_requested", "cancelled"]


def test_resume_drops_metrics_above_the_latest_checkpoint(session: Session, add_job) -> None:
    job_id = add_job()
    first = claim(session, "w1", ["cpu"])
    assert first is not None
    points = [(name, step, step / 10) for step in range(1, 11) for name in ("acc", "loss")]
    write_metrics(session, job_id, first.lease_epoch, points)
    with session.begin():
        for step in (3, 5):
            session.add(JobCheckpoint(job_id=job_id, step=step, kind="periodic",
                                      sha256="0" * 64, size_bytes=1, data=b"x"))
    assert job_row(session, job_id).step == 10
    expire_all(session)
    resumed = claim(session, "w2", ["cpu"])
    assert resumed is not None
    assert (resumed.resumed, resumed.checkpoint_step, resumed.attempt) == (True, 5, 2)
    kept = metric_steps(session, job_id)
    assert kept == [(name, s) for name in ("acc", "loss") for s in range(1, 6)]
    assert job_row(session, job_id).step == 5
    replay = [(name, step, 0.0) for step in range(6, 11) for name in ("acc", "loss")]
    assert write_metrics(session, job_id, resumed.lease_epoch, replay) == 10  # no duplicate
    assert len(metric_steps(session, job_id)) == 20


def test_reaper_skips_a_job_whose_writer_holds_the_fence(database: ScratchDatabase,
                                                         db: Database, session: Session,
                                                         add_job) -> None:
    """PostgreSQL: a fenced write in flight locks the row; the reaper skips it (SKIP
    LOCKED) rather than re-queueing under the writer. (SQLite has one writer at a time.)"""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    job_id = add_job()
    got = claim(session, "w1", ["cpu"])
    assert got is not None
    with db.session() as writer, transaction(writer, write=True):
        fenced(writer, job_id, got.lease_epoch)
        assert expire_all(session).total == 0
    assert expire_all(session).requeued == 1
