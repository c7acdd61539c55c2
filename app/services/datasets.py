"""Datasets: create (JSON, .npy/.npz, CSV), list, get, delete, and load for training.

Parsing and validation happen before any transaction opens; the dataset row and its
content are then written in one transaction, so a failed upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import transaction
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import ACTIVE_STATUSES, Dataset, DatasetContent, Job, utcnow
from app.services import arrays as arr
from app.services.csv_io import load_csv
from app.services.npy_io import load_npy, load_npz
from app.services.pagination import keyset_page

NOT_FOUND = "dataset not found"


def limits_from(settings: Settings) -> arr.ArrayLimits:
    return arr.ArrayLimits(max_values=settings.max_dataset_values,
                           max_dims=settings.max_array_dims)


def create_from_json(session: Session, team_id: uuid.UUID, name: str, inputs: list[object],
                     targets: list[object], limits: arr.ArrayLimits) -> Dataset:
    return _store(session, team_id, name, "json", arr.from_json(inputs, targets, limits))


def create_from_numpy(session: Session, team_id: uuid.UUID, name: str, *,
                      npz: bytes | None, inputs: bytes | None, targets: bytes | None,
                      limits: arr.ArrayLimits) -> Dataset:
    """Either an `.npz` (`npz`) or two `.npy` files (`inputs` and `targets`)."""
    if npz is not None and (inputs is not None or targets is not None):
        raise ValidationFailed(("body", "file"), "send either `file` (.npz) or `inputs` and "
                               "`targets` (.npy), not both", type="ambiguous_upload")
    if npz is not None:
        x, y = load_npz(npz, ("body", "file"), limits)
        loc_x, loc_y, fmt = ("body", "file", "inputs"), ("body", "file", "targets"), "npz"
    else:
        for field, data in (("inputs", inputs), ("targets", targets)):
            if data is None:
                raise ValidationFailed(("body", field), "missing: send `file` (.npz) or both "
                                       "`inputs` and `targets` (.npy)", type="missing")
        assert inputs is not None and targets is not None
        x = load_npy(inputs, ("body", "inputs"), limits)
        y = load_npy(targets, ("body", "targets"), limits)
        loc_x, loc_y, fmt = ("body", "inputs"), ("body", "targets"), "npy"
    return _store(session, team_id, name, fmt, arr.finalize(x, y, limits, loc_x, loc_y))


def create_from_csv(session: Session, team_id: uuid.UUID, name: str, data: bytes,
                    target_column: str, limits: arr.ArrayLimits) -> Dataset:
    x, y = load_csv(data, target_column, file_loc=("body", "file"),
                    target_loc=("body", "target_column"), limits=limits)
    return _store(session, team_id, name, "csv",
                  arr.finalize(x, y, limits, ("body", "file"), ("body", "file", target_column)))


def _store(session: Session, team_id: uuid.UUID, name: str, fmt: str,
           arrays: arr.DatasetArrays) -> Dataset:
    content = arr.encode(arrays)
    dataset = Dataset(
        id=uuid.uuid4(), team_id=team_id, name=name, format=fmt, rows=arrays.rows,
        input_shape=list(arrays.inputs.shape[1:]), input_dtype=str(arrays.inputs.dtype),
        target_shape=list(arrays.targets.shape[1:]), target_dtype=str(arrays.targets.dtype),
        num_classes=arrays.num_classes, size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(), created_at=utcnow(),
    )
    dataset.content = DatasetContent(dataset_id=dataset.id, data=content)
    with transaction(session, write=True):
        session.add(dataset)
    return dataset


def list_datasets(session: Session, team_id: uuid.UUID, *, limit: int,
                  cursor: str | None) -> tuple[Sequence[Dataset], str | None]:
    with transaction(session):
        return keyset_page(session, select(Dataset).where(Dataset.team_id == team_id),
                           Dataset.created_at, Dataset.id, limit=limit, cursor=cursor)


def get_dataset(session: Session, team_id: uuid.UUID, dataset_id: uuid.UUID) -> Dataset:
    with transaction(session):
        dataset = session.scalar(
            select(Dataset).where(Dataset.id == dataset_id, Dataset.team_id == team_id)
        )
    if dataset is None:
        raise NotFound(NOT_FOUND)
    return dataset


def delete_dataset(session: Session, team_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
    """Delete a dataset; 409 while a queued or running job uses it.

    The row lock (PostgreSQL) / write lock (SQLite) orders this against a job being
    queued on the dataset: inserting a job takes a key-share lock on the dataset row.
    """
    with transaction(session, write=True):
        found = session.scalar(
            select(Dataset.id)
            .where(Dataset.id == dataset_id, Dataset.team_id == team_id)
            .with_for_update()
        )
        if found is None:
            raise NotFound(NOT_FOUND)
        job_id = session.scalar(
            select(Job.id)
            .where(or_(Job.dataset_id == dataset_id, Job.validation_dataset_id == dataset_id),
                   Job.status.in_(ACTIVE_STATUSES))
            .limit(1)
        )
        if job_id is not None:
            raise Conflict(f"dataset is used by job {job_id}, which is queued or running; "
                           "cancel it or wait for it to finish", code="dataset_in_use")
        session.execute(delete(Dataset).where(Dataset.id == dataset_id))


def load_arrays(session: Session, team_id: uuid.UUID,
                dataset_id: uuid.UUID) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) of a dataset, checked against its stored SHA-256."""
    with transaction(session):
        row = session.execute(
            select(Dataset.sha256, DatasetContent.data)
            .join(DatasetContent, DatasetContent.dataset_id == Dataset.id)
            .where(Dataset.id == dataset_id, Dataset.team_id == team_id)
        ).first()
    if row is None:
        raise NotFound(NOT_FOUND)
    sha256, data = row
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"dataset {dataset_id} content does not match its SHA-256")
    return arr.decode(data)
