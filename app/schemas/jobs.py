"""Jobs: the submission body (a job spec plus name, labels and priority), the job as
returned by the API, the dry-run report and the list page."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, RootModel, StringConstraints

from app.models.base import utcnow
from app.schemas.common import Name, ResponseModel, check_text
from app.spec.schema import JobSpec

LABEL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$"
LABEL_KEY = re.compile(LABEL_KEY_PATTERN)
MAX_LABELS = 32
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)]
LabelValue = Annotated[str, StringConstraints(max_length=200), AfterValidator(check_text)]
JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]

MLP_SPEC: dict[str, Any] = {
    "model": {"layers": [
        {"type": "Linear", "in_features": 2, "out_features": 16}, {"type": "ReLU"},
        {"type": "Linear", "in_features": 16, "out_features": 2}]},
    "loss": {"type": "CrossEntropyLoss"},
    "optimizer": {"type": "Adam", "lr": 0.01},
    "epochs": 50, "batch_size": 4, "metrics": ["accuracy"],
}
CREATE_EXAMPLE = {"name": "xor-mlp", "labels": {"project": "demo"},
                   "dataset_id": "6d1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", **MLP_SPEC}
_JOB_EXAMPLE: dict[str, Any] = {
    "id": "0b7e3f4c-1a2b-4c3d-9e8f-7a6b5c4d3e2f", "name": "xor-mlp",
    "labels": {"project": "demo"}, "status": "queued", "cancel_requested": False,
    "priority": 0, "dataset_id": "6d1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    "validation_dataset_id": None,
    "progress": {"step": 0, "total_steps": 50, "epoch": 0, "fraction": 0.0,
                 "percent": 0.0, "samples_per_second": None, "eta_seconds": None},
    "queue_position": 1, "attempts": 0, "error": None, "latest_metrics": {},
    "created_at": "2026-01-01T12:00:00Z", "started_at": None, "finished_at": None,
    "spec": {**MLP_SPEC, "dataset_id": "6d1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "seed": 1234},
}
_VALIDATION_EXAMPLE = {
    "valid": True, "parameters": 82, "input_shape": [2], "output_shape": [2],
    "estimated_memory_bytes": 1672, "train_rows": 4, "validation_rows": 0,
    "steps_per_epoch": 1, "total_steps": 50, "epochs": 50,
    "layers": [{"path": "model.layers[0]", "type": "Linear", "output_shape": [16],
                "parameters": 48}],
}


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    return labels


class JobCreate(JobSpec):
    """A job: what to train (the spec) and how to find it again (name, labels)."""

    model_config = ConfigDict(json_schema_extra={"examples": [CREATE_EXAMPLE]})

    name: Name | None = Field(None, description="Default: `job-` and the start of its id.")
    labels: Annotated[dict[LabelKey, LabelValue], AfterValidator(_check_labels)] = Field(
        default_factory=dict, description=f"Free-form string labels (at most {MAX_LABELS}; "
        "keys: letters, digits, `._/-`, up to 63 characters). Filter lists with "
        "`label=key=value`.")
    priority: int = Field(0, ge=-1000, le=1000, description="Higher runs first; equal "
                          "priorities run in submission order.")


class Progress(ResponseModel):
    step: int = Field(description="Optimizer steps done.")
    total_steps: int | None = Field(description="Optimizer steps of the whole job.")
    epoch: int = Field(description="Epochs done.")
    fraction: float = Field(description="step / total_steps, 0..1.")
    percent: float = Field(description="fraction as a percentage, 0..100.")
    samples_per_second: float | None = Field(
        None, description="Training throughput the worker measured lately (running jobs).")
    eta_seconds: float | None = Field(
        None, description="Estimated seconds until the job's last step (running jobs; "
        "from the worker's recent throughput).")


class JobError(ResponseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. `worker_crashed`.")
    message: str


class MetricValue(ResponseModel):
    step: int
    value: float


class JobSummary(ResponseModel):
    """A job as listed."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {k: v for k, v in _JOB_EXAMPLE.items()
         if k not in ("spec", "latest_metrics", "queue_position")}]})

    id: uuid.UUID
    name: str
    labels: dict[str, str]
    status: JobStatusName
    cancel_requested: bool = Field(description="Cancellation asked while running; the "
                                   "worker stops within two heartbeats.")
    priority: int
    dataset_id: uuid.UUID | None = Field(description="Null once the dataset was deleted "
                                         "(after the job finished).")
    validation_dataset_id: uuid.UUID | None
    progress: Progress
    attempts: int = Field(description="Times a worker has claimed it.")
    error: JobError | None = Field(description="Why it failed (failed jobs only).")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def fields_of(cls, job: Any) -> dict[str, Any]:
        total = job.total_steps
        fraction = min(1.0, job.step / total) if total else 0.0
        running = job.status == "running"
        eta = (max(0.0, (job.eta_at - utcnow()).total_seconds())
               if running and job.eta_at is not None else None)
        error = (JobError(code=job.error_code, message=job.error_message or "")
                 if job.error_code else None)
        return {
            "id": job.id, "name": job.name, "labels": job.labels, "status": job.status,
            "cancel_requested": job.cancel_requested, "priority": job.priority,
            "dataset_id": job.dataset_id, "validation_dataset_id": job.validation_dataset_id,
            "progress": Progress(
                step=job.step, total_steps=total, epoch=job.epoch, fraction=fraction,
                percent=round(100.0 * fraction, 2), eta_seconds=eta,
                samples_per_second=job.samples_per_second if running else None),
            "attempts": job.attempts, "error": error, "created_at": job.created_at,
            "started_at": job.started_at, "finished_at": job.finished_at,
        }

    @classmethod
    def of(cls, job: Any) -> JobSummary:
        return cls(**cls.fields_of(job))


class JobOut(JobSummary):
    """A job with its spec, queue position and latest metrics."""

    model_config = ConfigDict(json_schema_extra={"examples": [_JOB_EXAMPLE]})

    queue_position: int | None = Field(description="For a queued job: 1 when it is next to "
                                       "be claimed, 2 after one more job, ...; else null.")
    latest_metrics: dict[str, MetricValue] = Field(
        description="The latest value of each metric, e.g. `train_loss`.")
    spec: dict[str, Any] = Field(description="The spec as stored: the submitted fields "
                                 "(less name, labels and priority) with defaults filled in "
                                 "and the seed chosen.")

    @classmethod
    def of_view(cls, view: Any) -> JobOut:
        """From an `app.services.jobs.JobView`."""
        metrics = {name: MetricValue(step=step, value=value)
                   for name, (step, value) in view.latest_metrics.items()}
        return cls(**cls.fields_of(view.job), queue_position=view.queue_position,
                   latest_metrics=metrics, spec=view.job.spec)


class JobPage(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": JobSummary.model_config["json_schema_extra"]["examples"],  # type: ignore[index]
         "next_cursor": None}]})

    items: list[JobSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class LayerReport(ResponseModel):
    path: str = Field(description="The layer's JSON path in the spec.")
    type: str
    output_shape: list[int] = Field(description="Per sample (no batch dimension).")
    parameters: int


class JobValidation(ResponseModel):
    """The dry-run report: the spec fits its dataset and the limits."""

    model_config = ConfigDict(json_schema_extra={"examples": [_VALIDATION_EXAMPLE]})

    valid: Literal[True]
    parameters: int
    input_shape: list[int] = Field(description="One input sample's shape.")
    output_shape: list[int] = Field(description="The model's output per sample.")
    estimated_memory_bytes: int = Field(description="Weights, gradients, optimizer state "
                                        "and one batch's activations (float32).")
    train_rows: int
    validation_rows: int
    steps_per_epoch: int
    total_steps: int
    epochs: int = Field(description="Epochs begun (the last may be cut by max_steps).")
    layers: list[LayerReport]

    @classmethod
    def of(cls, report: Any) -> JobValidation:
        """From an `app.spec.validate.Report`."""
        plan = report.plan
        return cls(
            valid=True, parameters=report.parameters, input_shape=report.input_shape,
            output_shape=report.output_shape,
            estimated_memory_bytes=report.estimated_memory_bytes, train_rows=plan.train_rows,
            validation_rows=plan.validation_rows, steps_per_epoch=plan.steps_per_epoch,
            total_steps=plan.total_steps, epochs=plan.epochs,
            layers=[LayerReport(path=l.path, type=l.type, output_shape=l.output_shape,
                                parameters=l.parameters) for l in report.layers])


class JobSubmitResult(RootModel[JobOut | JobValidation]):
    """`POST /v1/jobs` with status 200: the dry-run report (`?dry_run=true`), or the job
    first created with this `Idempotency-Key` (a replay)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_VALIDATION_EXAMPLE]})


def label_filter(value: str) -> tuple[str, str] | None:
    """`key=value` -> (key, value); None when malformed."""
    key, sep, wanted = value.partition("=")
    if not sep or not LABEL_KEY.match(key) or len(wanted) > 200:
        return None
    try:
        return key, check_text(wanted)
    except ValueError:
        return None
