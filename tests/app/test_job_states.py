"""The job state machine: exactly the legal transitions, applied the same way by the ORM
path (`transition`) and the SQL path (`guarded_update`)."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import select

from app.db import Database, transaction
from app.models import Job, JobEvent, JobStatus, utcnow
from app.services import job_states
from app.services.job_states import IllegalTransition
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient
from tests.app.helpers import create_dataset, mlp_job, submit

Q, R, S, F, C = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED,
                 JobStatus.CANCELLED)
LEGAL = {(Q, R), (Q, C), (R, S), (R, F), (R, C), (R, Q)}
PAIRS = list(itertools.product(JobStatus, JobStatus))


def test_the_table_is_exactly_the_documented_transitions() -> None:
    assert {(a, b) for a, b in PAIRS if job_states.is_legal(a, b)} == LEGAL
    assert job_states.FINAL == {S, F, C}
    assert set(job_states.sources(R)) == {"queued"}
    assert set(job_states.sources(C)) == {"queued", "running"}
    assert job_states.sources(Q) == ("running",)


@pytest.fixture
def job_of(client: TestClient, team: TeamHandle, database: ScratchDatabase):
    dataset_id = create_dataset(client, team.headers)
    db = Database(database.engine)

    def make(status: JobStatus) -> uuid.UUID:
        job_id = uuid.UUID(submit(client, team.headers, mlp_job(dataset_id))["id"])
        with db.session() as session, transaction(session, write=True):
            session.get(Job, job_id).status = status.value  # set up directly, not a transition
        return job_id

    return db, make


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_transition_applies_legal_changes_and_refuses_the_rest(job_of, current: JobStatus,
                                                              target: JobStatus) -> None:
    db, make = job_of
    job_id = make(current)
    with db.session() as session:
        with transaction(session, write=True):
            job = session.get(Job, job_id)
            if (current, target) not in LEGAL:
                with pytest.raises(IllegalTransition) as info:
                    job_states.transition(session, job, target)
                assert info.value.status_code == 409
                return
            job_states.transition(session, job, target, payload={"why": "test"})
        with transaction(session):
            job = session.get(Job, job_id)
            event = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id)
                                    .order_by(JobEvent.id.desc())).first()
    assert job.status == target
    assert (job.finished_at is not None) == (target in job_states.FINAL)
    assert (job.started_at is not None) == (target == R)
    assert (event.type, event.payload) == (target.value, {"from": current.value,
                                                          "to": target.value, "why": "test"})


def test_guarded_update_only_moves_jobs_from_a_legal_source(job_of) -> None:
    db, make = job_of
    queued, running, done = make(Q), make(R), make(S)
    with db.session() as session, transaction(session, write=True):
        now = utcnow()
        for job_id, expected in ((queued, 1), (running, 0), (done, 0)):
            result = session.execute(job_states.guarded_update(job_id, R, now=now,
                                                               worker_id="w1"))
            assert result.rowcount == expected
        assert session.execute(job_states.guarded_update(running, Q)).rowcount == 1
        assert session.execute(job_states.guarded_update(done, C)).rowcount == 0
    with db.session() as session, transaction(session):
        rows = {j.id: j for j in session.scalars(select(Job))}
    assert (rows[queued].status, rows[queued].worker_id) == ("running", "w1")
    assert rows[queued].started_at is not None and rows[queued].finished_at is None
    assert (rows[running].status, rows[running].worker_id) == ("queued", None)
    assert rows[done].status == "succeeded"
