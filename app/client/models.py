"""The response types of the client: small frozen dataclasses built from the API's JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from app.client.client import Client

T = TypeVar("T")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` (None: the last page)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    format: str
    rows: int
    input_shape: list[int]
    input_dtype: str
    target_shape: list[int]
    target_dtype: str
    num_classes: int | None
    size_bytes: int
    sha256: str
    created_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Dataset:
        return cls(id=d["id"], name=d["name"], format=d["format"], rows=d["rows"],
                   input_shape=list(d["input_shape"]), input_dtype=d["input_dtype"],
                   target_shape=list(d["target_shape"]), target_dtype=d["target_dtype"],
                   num_classes=d.get("num_classes"), size_bytes=d["size_bytes"],
                   sha256=d["sha256"], created_at=_dt(d.get("created_at")), raw=d)


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int | None
    epoch: int
    fraction: float
    percent: float
    samples_per_second: float | None = None
    eta_seconds: float | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Progress:
        return cls(step=d["step"], total_steps=d.get("total_steps"), epoch=d["epoch"],
                   fraction=d["fraction"], percent=d["percent"],
                   samples_per_second=d.get("samples_per_second"),
                   eta_seconds=d.get("eta_seconds"))


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class MetricValue:
    step: int
    value: float


@dataclass(frozen=True)
class Job:
    """A job as listed (`spec`, `latest_metrics` and `queue_position` filled by `get_job`
    and submission). `wait`, `refresh` and `cancel` call the client it came from."""

    id: str
    name: str
    status: str
    labels: dict[str, str]
    cancel_requested: bool
    priority: int
    dataset_id: str | None
    validation_dataset_id: str | None
    progress: Progress
    attempts: int
    error: JobError | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None = None
    latest_metrics: dict[str, MetricValue] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False  # an Idempotency-Key replay returned the job first created
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    client: Client | None = field(repr=False, compare=False, default=None)

    @classmethod
    def from_json(cls, d: dict[str, Any], client: Client | None = None,
                  replayed: bool = False) -> Job:
        error = d.get("error")
        return cls(
            id=d["id"], name=d["name"], status=d["status"], labels=dict(d.get("labels") or {}),
            cancel_requested=d.get("cancel_requested", False), priority=d.get("priority", 0),
            dataset_id=d.get("dataset_id"), validation_dataset_id=d.get("validation_dataset_id"),
            progress=Progress.from_json(d["progress"]), attempts=d.get("attempts", 0),
            error=JobError(error["code"], error["message"]) if error else None,
            created_at=_dt(d.get("created_at")), started_at=_dt(d.get("started_at")),
            finished_at=_dt(d.get("finished_at")), queue_position=d.get("queue_position"),
            latest_metrics={k: MetricValue(v["step"], v["value"])
                            for k, v in (d.get("latest_metrics") or {}).items()},
            spec=dict(d.get("spec") or {}), replayed=replayed, raw=d, client=client)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def _client(self) -> Client:
        if self.client is None:
            raise RuntimeError("this Job has no client: get it through a Client")
        return self.client

    def refresh(self) -> Job:
        return self._client().get_job(self.id)

    def cancel(self) -> Job:
        return self._client().cancel_job(self.id)

    def wait(self, *, mode: Literal["stream", "poll"] = "stream", timeout: float | None = None,
             on_progress: Callable[[JobProgress], object] | None = None,
             poll_interval: float = 1.0) -> Job:
        """Block until the job has ended; return it as it ended (check `status`).

        `mode="stream"` follows the server-sent events (and falls back to polling when
        the stream cannot be had); `"poll"` reads the job every `poll_interval` seconds.
        `on_progress` gets a `JobProgress` as training advances. Raises `WaitTimeout`
        after `timeout` seconds.
        """
        return self._client().wait_for_job(self.id, mode=mode, timeout=timeout,
                                           on_progress=on_progress,
                                           poll_interval=poll_interval)


@dataclass(frozen=True)
class JobProgress:
    """What `Job.wait` reports: where training is, its latest loss and the ETA."""

    job_id: str
    status: str
    epoch: int
    step: int
    total_steps: int | None
    percent: float
    loss: float | None
    eta_seconds: float | None


@dataclass(frozen=True)
class LayerReport:
    path: str
    type: str
    output_shape: list[int]
    parameters: int


@dataclass(frozen=True)
class Validation:
    """The dry-run report of `submit_job(..., dry_run=True)`."""

    valid: bool
    parameters: int
    input_shape: list[int]
    output_shape: list[int]
    estimated_memory_bytes: int
    train_rows: int
    validation_rows: int
    steps_per_epoch: int
    total_steps: int
    epochs: int
    layers: list[LayerReport]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Validation:
        return cls(valid=d["valid"], parameters=d["parameters"],
                   input_shape=list(d["input_shape"]), output_shape=list(d["output_shape"]),
                   estimated_memory_bytes=d["estimated_memory_bytes"],
                   train_rows=d["train_rows"], validation_rows=d["validation_rows"],
                   steps_per_epoch=d["steps_per_epoch"], total_steps=d["total_steps"],
                   epochs=d["epochs"],
                   layers=[LayerReport(l["path"], l["type"], list(l["output_shape"]),
                                       l["parameters"]) for l in d.get("layers", [])], raw=d)


@dataclass(frozen=True)
class MetricSeries:
    name: str
    points: list[MetricValue]
    total_points: int
    downsampled: bool

    @property
    def steps(self) -> list[int]:
        return [p.step for p in self.points]

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points]


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    payload: dict[str, Any]
    created_at: datetime | None


@dataclass(frozen=True)
class Checkpoint:
    id: int
    step: int
    kind: str
    epoch: int
    metrics: dict[str, float]
    score: float | None
    sha256: str
    size_bytes: int
    created_at: datetime | None


@dataclass(frozen=True)
class StreamMessage:
    """One server-sent event of `/events/stream`: `event` is `status`, `checkpoint`,
    `log`, `metric` or `end`; `id` resumes after it (`Last-Event-ID`)."""

    id: str | None
    event: str
    data: Any


@dataclass(frozen=True)
class Weights:
    """Downloaded weights: the safetensors bytes (None when written to `path`)."""

    sha256: str
    size_bytes: int
    data: bytes | None = None
    path: Path | None = None


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str | None
    prefix: str
    last_four: str
    created_at: datetime | None
    last_used_at: datetime | None
    current: bool = False
    key: str | None = None  # the secret: only right after `create_key`

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ApiKey:
        return cls(id=d["id"], name=d.get("name"), prefix=d["prefix"],
                   last_four=d["last_four"], created_at=_dt(d.get("created_at")),
                   last_used_at=_dt(d.get("last_used_at")), current=d.get("current", False),
                   key=d.get("key"))

