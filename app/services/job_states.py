"""The job state machine: the one place that decides which status changes are legal.

    queued  -> running     a worker claims it
    queued  -> cancelled   cancelled before it started
    running -> succeeded   finished (weights and final metrics in the same transaction)
    running -> failed      crashed, out of attempts, or refused by the worker
    running -> cancelled   the worker saw `cancel_requested` and stopped
    running -> queued      lease expired or the worker was told to stop (SIGTERM): retried

succeeded, failed and cancelled are final. Every status change goes through `transition`
(ORM rows, under a row lock) or `guarded_update` (one UPDATE whose WHERE admits only
legal sources, for queue SQL), and records a job event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Update, func, update
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.models import Job, JobEvent, JobStatus, utcnow

Q, R, S, F, C = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED,
                 JobStatus.CANCELLED)
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    Q: frozenset({R, C}),
    R: frozenset({S, F, C, Q}),
    S: frozenset(),
    F: frozenset(),
    C: frozenset(),
}
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a {current} job cannot become {target}")
        self.current, self.target = current, target


def is_legal(current: str, target: str) -> bool:
    return JobStatus(target) in TRANSITIONS[JobStatus(current)]


def sources(target: JobStatus) -> tuple[str, ...]:
    """The statuses from which `target` may be entered (for guarded UPDATEs)."""
    return tuple(s.value for s, targets in TRANSITIONS.items() if target in targets)


def transition(session: Session, job: Job, target: JobStatus, *, event: str | None = None,
               payload: dict[str, Any] | None = None, now: datetime | None = None) -> JobEvent:
    """Move a (locked) job row to `target`, stamp its timestamps and record an event
    (`event` defaults to the target status). Raises IllegalTransition."""
    if not is_legal(job.status, target):
        raise IllegalTransition(job.status, target.value)
    now = now or utcnow()
    previous = job.status
    for column, value in _side_effects(target, now).items():
        setattr(job, column, value)
    if target == R and job.started_at is None:
        job.started_at = now
    record = event_of(job, event or target.value,
                      {"from": previous, "to": target.value, **(payload or {})}, now=now)
    session.add(record)
    return record


def event_of(job: Job, type_: str, payload: dict[str, Any] | None = None, *,
             now: datetime | None = None) -> JobEvent:
    """A job event (not added to the session)."""
    return JobEvent(job_id=job.id, type=type_, payload=payload or {}, created_at=now or utcnow())


def guarded_update(job_id: Any, target: JobStatus, *, now: datetime | None = None,
                   **values: Any) -> Update:
    """`UPDATE jobs SET status = target ... WHERE id = job_id AND status IN (legal
    sources)`; the caller checks the row count (0: the job was not in a legal state)
    and records the event."""
    now = now or utcnow()
    effects = _side_effects(target, now)
    if target == R:
        effects["started_at"] = func.coalesce(Job.started_at, now)
    return (update(Job).where(Job.id == job_id, Job.status.in_(sources(target)))
            .values(**effects, **values))


def _side_effects(target: JobStatus, now: datetime) -> dict[str, Any]:
    effects: dict[str, Any] = {"status": target.value}
    if target in FINAL:
        effects.update(finished_at=now, lease_expires_at=None, worker_id=None)
    elif target == Q:
        effects.update(lease_expires_at=None, worker_id=None)
    return effects
