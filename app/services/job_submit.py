"""Job submission: check the spec against its dataset, then queue it, at most once per
`Idempotency-Key`.

Idempotency: a key is scoped to the team and remembers the SHA-256 of the request body
(canonical JSON of the validated body). The same key with the same body returns the
job first created (a replay); with a different body, 409. Concurrent submissions with
one key race to insert; the unique constraint on (team_id, idempotency_key) lets one
win, and the losers, on IntegrityError, return the winner's job.

Validation (model build, dummy forward/backward) runs outside any transaction, its
report cached for the same spec on datasets of the same metadata. The insert's foreign
keys then key-share lock the datasets (PostgreSQL), so a concurrent dataset delete
either sees the new job (409 there) or wins first (a foreign-key violation: 422 here).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import HotRead, transaction
from app.errors import Conflict
from app.models import Dataset, Job, JobEvent, JobStatus, utcnow
from app.queue.wakeup import notify_queued
from app.schemas.jobs import JobCreate
from app.services import datasets
from app.services.jobs import JobView, position_of_new_job, view_of
from app.spec.errors import SpecInvalid
from app.spec.targets import DatasetInfo
from app.spec.validate import Report, SpecLimits, validate_cached

_NOT_IN_SPEC = frozenset({"name", "labels", "priority"})


@dataclass(frozen=True)
class Submission:
    """A new job (`created`), a replayed one, or a dry run's report."""

    view: JobView | None = None
    report: Report | None = None
    created: bool = False


def limits_of(settings: Settings) -> SpecLimits:
    return SpecLimits(max_parameters=settings.max_model_parameters,
                      max_memory_bytes=settings.max_training_memory_bytes,
                      max_layers=settings.max_model_layers, max_depth=settings.max_model_depth,
                      max_check_bytes=settings.max_validation_memory_bytes)


def request_hash(body: JobCreate) -> str:
    return _digest(body.model_dump(mode="json"))


def _digest(dumped: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a dumped (validated) body."""
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def submit_job(session: Session, team_id: uuid.UUID, body: JobCreate, settings: Settings, *,
               idempotency_key: str | None = None, dry_run: bool = False) -> Submission:
    dumped = body.model_dump(mode="json")
    digest = _digest(dumped)
    if idempotency_key is not None and not dry_run:
        replay = _replay(session, team_id, idempotency_key, digest)
        if replay is not None:
            return Submission(view=replay)
    if body.max_runtime_seconds and body.max_runtime_seconds > settings.max_job_runtime_seconds:
        raise SpecInvalid(("max_runtime_seconds",), "at most "
                          f"{settings.max_job_runtime_seconds} on this server",
                          type="less_than_equal")
    train, validation = _dataset_infos(session, team_id, body)
    report = validate_cached(
        body, dumped, train, validation, limits_of(settings),
        load_inputs=lambda: datasets.load_arrays(session, team_id, body.dataset_id)[0])
    if dry_run:
        return Submission(report=report)
    job = _new_job(team_id, body, dumped, settings, report, idempotency_key, digest)
    try:
        with transaction(session, write=True):
            if idempotency_key is not None:  # SQLite: writers are serialized, so look again
                existing = _by_key(session, team_id, idempotency_key)
                if existing is not None:
                    return Submission(view=_same_request(session, existing, digest))
            # The foreign keys of the INSERT key-share lock the dataset rows, so a
            # concurrent delete either sees this job (409 there) or wins first (a
            # foreign-key violation here, answered 422 below).
            conn = session.connection()
            position = conn.execute(_INSERT_JOB, {
                **job, "new_priority": job["priority"], "new_created_at": job["created_at"],
                "new_id": job["id"]}).scalar_one()
            conn.execute(_INSERT_EVENT, {
                "job_id": job["id"], "type": "created", "created_at": job["created_at"],
                "payload": {"from": None, "to": JobStatus.QUEUED.value,
                            "parameters": report.parameters,
                            "total_steps": report.plan.total_steps,
                            "estimated_memory_bytes": report.estimated_memory_bytes}})
            notify_queued(session)
            return Submission(view=JobView(SimpleNamespace(**job), position), created=True)
    except IntegrityError:
        _check_datasets_exist(session, team_id, body)
        if idempotency_key is None:
            raise
        replay = _replay(session, team_id, idempotency_key, digest)
        if replay is None:
            raise
        return Submission(view=replay)


# Written once per job, with the values the API shows (and a worker reads) later.
_JOB_DEFAULTS: dict[str, Any] = {
    "status": JobStatus.QUEUED.value, "cancel_requested": False, "attempts": 0,
    "lease_epoch": 0, "step": 0, "epoch": 0, "lease_expires_at": None, "worker_id": None,
    "error_code": None, "error_message": None, "eta_at": None, "samples_per_second": None,
    "started_at": None, "finished_at": None}


def _new_job(team_id: uuid.UUID, body: JobCreate, dumped: dict[str, Any], settings: Settings,
             report: Report, idempotency_key: str | None, digest: str) -> dict[str, Any]:
    """The new job's row (every column of `jobs`)."""
    spec = {k: v for k, v in dumped.items() if k not in _NOT_IN_SPEC}
    spec["seed"] = body.seed if body.seed is not None else secrets.randbelow(2**32)
    spec["checkpoint_every_steps"] = (body.checkpoint_every_steps
                                      or settings.default_checkpoint_every_steps)
    spec["max_runtime_seconds"] = body.max_runtime_seconds or settings.max_job_runtime_seconds
    job_id = uuid.uuid4()
    return {
        **_JOB_DEFAULTS, "id": job_id, "team_id": team_id, "dataset_id": body.dataset_id,
        "validation_dataset_id": body.validation_dataset_id,
        "name": body.name or f"job-{job_id.hex[:8]}", "labels": dict(body.labels),
        "spec": spec, "priority": body.priority, "idempotency_key": idempotency_key,
        "request_hash": digest, "total_steps": report.plan.total_steps,
        "created_at": utcnow()}


# Core statements built once (submission is a hot path). The job's queue position comes
# back from its INSERT: the subqueries of RETURNING see the queue as it was before.
_INSERT_JOB = insert(Job.__table__).returning(position_of_new_job())
_INSERT_EVENT = insert(JobEvent.__table__)


_BY_KEY = select(Job).where(Job.team_id == bindparam("team_id"),
                            Job.idempotency_key == bindparam("key"))


def _by_key(session: Session, team_id: uuid.UUID, key: str) -> Job | None:
    return session.scalar(_BY_KEY, {"team_id": team_id, "key": key})


def _same_request(session: Session, job: Job, digest: str) -> JobView:
    if job.request_hash != digest:
        raise Conflict("this Idempotency-Key was already used with a different request body; "
                       "use a new key for a new job", code="idempotency_key_reused")
    return view_of(session, job)


def _replay(session: Session, team_id: uuid.UUID, key: str, digest: str) -> JobView | None:
    with transaction(session):
        job = _by_key(session, team_id, key)
        return None if job is None else _same_request(session, job, digest)


# Statements built once (submission is a hot path). The training and validation dataset
# ids are two plain parameters (the second may be NULL), not an expanding IN list, so the
# statement is compiled once and prepared by the server.
_DATASET_INFO = HotRead(
    select(Dataset.id, Dataset.rows, Dataset.input_shape, Dataset.target_shape,
           Dataset.target_dtype, Dataset.num_classes)
    .where(or_(Dataset.id == bindparam("train_id"), Dataset.id == bindparam("validation_id")),
           Dataset.team_id == bindparam("team_id")))
_DATASET_FIELDS = ("dataset_id", "validation_dataset_id")


def _dataset_rows(session: Session, team_id: uuid.UUID, body: JobCreate) -> dict[uuid.UUID, Any]:
    rows = _DATASET_INFO.rows(session.get_bind(), {
        "train_id": body.dataset_id, "validation_id": body.validation_dataset_id,
        "team_id": team_id})
    return {row.id: row for row in rows}


def _dataset_infos(session: Session, team_id: uuid.UUID, body: JobCreate
                   ) -> tuple[DatasetInfo, DatasetInfo | None]:
    rows = _dataset_rows(session, team_id, body)
    infos: dict[str, DatasetInfo | None] = {}
    for field in _DATASET_FIELDS:
        dataset_id = getattr(body, field)
        if dataset_id is None:
            infos[field] = None
            continue
        row = rows.get(dataset_id)
        if row is None:
            raise SpecInvalid((field,), "no dataset with this id", type="not_found")
        infos[field] = DatasetInfo(
            rows=row.rows, input_shape=tuple(row.input_shape),
            target_shape=tuple(row.target_shape), target_dtype=row.target_dtype,
            num_classes=row.num_classes)
    train = infos["dataset_id"]
    assert train is not None
    return train, infos["validation_dataset_id"]


def _check_datasets_exist(session: Session, team_id: uuid.UUID, body: JobCreate) -> None:
    """422 if a dataset of the job was deleted since its validation."""
    rows = _dataset_rows(session, team_id, body)
    for field in _DATASET_FIELDS:
        dataset_id = getattr(body, field)
        if dataset_id is not None and dataset_id not in rows:
            raise SpecInvalid((field,), "no dataset with this id", type="not_found")
