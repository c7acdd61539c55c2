"""A typed Python client for the Trainforge REST API (httpx, synchronous).

    from app.client import Client

    with Client("http://127.0.0.1:8000", api_key="tf_...") as tf:
        dataset = tf.create_dataset("xor", [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0])
        job = tf.submit_job({"model": {...}, "loss": {...}, "optimizer": {...},
                             "epochs": 50}, dataset_id=dataset.id)
        job = job.wait(on_progress=lambda p: print(p.percent, p.loss))
        tf.download_weights(job.id, "model.safetensors")

Every call returns small frozen dataclasses (`Dataset`, `Job`, `Page[...]`, ...). An
error response raises a subclass of `ApiError` (`NotFound`, `Conflict`, `Unauthorized`,
`ValidationFailed`, ...) carrying the API's `code`, `message` and field `errors`; a
network failure raises `ConnectionFailed`. Nothing here imports the server's code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

import httpx

T = TypeVar("T")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
DEFAULT_URL = "http://127.0.0.1:8000"


# --- errors ------------------------------------------------------------------------------

class ApiError(Exception):
    """An error answered by the API (or met on the way to it): the HTTP `status` (0 when
    no response came), the API's stable `code`, its `message`, and `errors`, the field
    problems of a validation error (`[{"loc": [...], "msg": ..., "type": ...}]`)."""

    default_status = 0
    default_code = "error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 errors: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = self.default_status if status is None else status
        self.code = code or self.default_code
        self.errors: list[dict[str, Any]] = [dict(e) for e in errors or ()]

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


class BadRequest(ApiError):
    default_status, default_code = 400, "bad_request"


class Unauthorized(ApiError):
    default_status, default_code = 401, "unauthorized"


class Forbidden(ApiError):
    default_status, default_code = 403, "forbidden"


class NotFound(ApiError):
    default_status, default_code = 404, "not_found"


class Conflict(ApiError):
    default_status, default_code = 409, "conflict"


class PayloadTooLarge(ApiError):
    default_status, default_code = 413, "payload_too_large"


class ValidationFailed(ApiError):
    default_status, default_code = 422, "validation_failed"


class RateLimited(ApiError):
    default_status, default_code = 429, "rate_limited"


class ServerError(ApiError):
    default_status, default_code = 500, "internal_error"


class ServiceUnavailable(ServerError):
    default_status, default_code = 503, "unavailable"


class ConnectionFailed(ApiError):
    """No answer: the server is unreachable, the connection dropped, or it timed out."""

    default_code = "connection_failed"


class ChecksumMismatch(ApiError):
    """Downloaded weights whose SHA-256 differs from the server's `X-Checksum-SHA256`."""

    default_code = "checksum_mismatch"


class WaitTimeout(ApiError, TimeoutError):
    """`Job.wait(timeout=...)` ran out before the job ended."""

    default_code = "timeout"


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 422: ValidationFailed, 429: RateLimited, 503: ServiceUnavailable,
}


def error_from_response(response: httpx.Response) -> ApiError:
    """The typed error of an error response (`{"detail": {"code", "message", "errors"}}`)."""
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    code, message, errors = None, None, None
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        code = detail.get("code") if isinstance(detail.get("code"), str) else None
        message = detail.get("message") if isinstance(detail.get("message"), str) else None
        errors = detail.get("errors") if isinstance(detail.get("errors"), list) else None
    elif isinstance(detail, str):
        message = detail
    elif isinstance(detail, list):  # FastAPI's plain validation errors
        errors = [e for e in detail if isinstance(e, dict)]
        message = "; ".join(str(e.get("msg")) for e in errors) or None
    if message is None:
        text = response.text.strip()[:200] if response.content else ""
        message = f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
    return cls(message, status=status, code=code, errors=errors)


# --- response types ----------------------------------------------------------------------

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


# --- the client --------------------------------------------------------------------------

def _paths(value: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(value))


def _tolist(values: Any) -> Any:
    return values.tolist() if hasattr(values, "tolist") else values


class Client:
    """The Trainforge API at `base_url` with the team key `api_key` (default: the
    `TRAINFORGE_URL` and `TRAINFORGE_API_KEY` environment variables)."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
                 stream_retries: int = 5, retry_backoff: float = 0.5,
                 busy_retries: int = 3) -> None:
        self.base_url = (base_url or os.environ.get("TRAINFORGE_URL") or DEFAULT_URL
                         ).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("TRAINFORGE_API_KEY")
        headers = {"User-Agent": "trainforge-client"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self.stream_retries = stream_retries
        self.busy_retries = busy_retries
        self.retry_backoff = retry_backoff
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                  transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing --

    def _request(self, method: str, path: str, *, retry: bool | None = None,
                 **kwargs: Any) -> httpx.Response:
        """One call; a 503 with `Retry-After` (the database busy for a moment) is retried
        up to `busy_retries` times when the call is safe to repeat (`retry`, default: GET,
        HEAD and DELETE)."""
        retry = method in ("GET", "HEAD", "DELETE") if retry is None else retry
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TimeoutException as exc:
                raise ConnectionFailed(f"{method} {self.base_url}{path} timed out ({exc!r})",
                                       code="timeout") from exc
            except httpx.TransportError as exc:
                raise ConnectionFailed(f"cannot reach {self.base_url}: "
                                       f"{exc or type(exc).__name__}") from exc
            if (response.status_code == 503 and retry and attempt < self.busy_retries
                    and "Retry-After" in response.headers):
                attempt += 1
                time.sleep(_retry_after(response.headers["Retry-After"]))
                continue
            if response.status_code >= 400:
                raise error_from_response(response)
            return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # -- health --

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        return self._json("GET", "/readyz")

    # -- datasets --

    def create_dataset(self, name: str, inputs: Any, targets: Any) -> Dataset:
        """A dataset from samples as JSON (lists, or NumPy arrays: sent as lists)."""
        body = {"name": name, "inputs": _tolist(inputs), "targets": _tolist(targets)}
        return Dataset.from_json(self._json("POST", "/v1/datasets", json=body))

    def upload_arrays(self, name: str, inputs: Any, targets: Any) -> Dataset:
        """A dataset from NumPy arrays, sent as one `.npz` (binary: compact and exact)."""
        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, inputs=np.asarray(inputs), targets=np.asarray(targets))
        return self._upload("/v1/datasets/upload/numpy", {"name": name},
                            {"file": ("data.npz", buf.getvalue(), "application/octet-stream")})

    def upload_dataset(self, path: str | os.PathLike[str], *, name: str | None = None,
                       target_column: str | None = None,
                       targets_path: str | os.PathLike[str] | None = None) -> Dataset:
        """Upload a file by its suffix: `.json` (`{"inputs", "targets"[, "name"]}`),
        `.csv` (needs `target_column`), `.npz` (arrays `inputs` and `targets`), or `.npy`
        (the inputs; the targets in `targets_path`, another `.npy`). `name` defaults to
        the file's (or the JSON's) name."""
        path = _paths(path)
        suffix = path.suffix.lower()
        if suffix not in (".json", ".csv", ".npy", ".npz"):
            raise ValueError(f"{path.name}: expected a .json, .csv, .npy or .npz file")
        if suffix != ".npy" and targets_path is not None:
            raise ValueError("a separate targets file goes with a .npy inputs file only")
        if suffix != ".csv" and target_column is not None:
            raise ValueError("--target-column is for .csv files")
        data = path.read_bytes()
        if suffix == ".json":
            try:
                body = json.loads(data)
            except ValueError as exc:
                raise ValueError(f"{path.name}: not valid JSON ({exc})") from None
            if not isinstance(body, dict) or "inputs" not in body or "targets" not in body:
                raise ValueError(f'{path.name}: expected {{"inputs": [...], "targets": [...]}}')
            return self.create_dataset(name or body.get("name") or path.stem, body["inputs"],
                                       body["targets"])
        name = name or path.stem
        octet = "application/octet-stream"
        if suffix == ".csv":
            if not target_column:
                raise ValueError("a CSV upload needs the target column (--target-column)")
            return self._upload("/v1/datasets/upload/csv",
                                {"name": name, "target_column": target_column},
                                {"file": (path.name, data, "text/csv")})
        if suffix == ".npz":
            return self._upload("/v1/datasets/upload/numpy", {"name": name},
                                {"file": (path.name, data, octet)})
        if targets_path is None:
            raise ValueError("a .npy file holds the inputs only: give the targets .npy too "
                             "(--targets)")
        targets = _paths(targets_path)
        return self._upload("/v1/datasets/upload/numpy", {"name": name}, {
            "inputs": (path.name, data, octet),
            "targets": (targets.name, targets.read_bytes(), octet)})

    def _upload(self, path: str, form: dict[str, str], files: dict[str, Any]) -> Dataset:
        return Dataset.from_json(self._json("POST", path, data=form, files=files))

    def list_datasets(self, *, limit: int = 20, cursor: str | None = None) -> Page[Dataset]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = self._json("GET", "/v1/datasets", params=params)
        return Page([Dataset.from_json(d) for d in body["items"]], body.get("next_cursor"))

    def iter_datasets(self, *, page_size: int = 100) -> Iterator[Dataset]:
        yield from _all_pages(lambda cursor: self.list_datasets(limit=page_size, cursor=cursor))

    def get_dataset(self, dataset_id: str) -> Dataset:
        return Dataset.from_json(self._json("GET", f"/v1/datasets/{dataset_id}"))

    def delete_dataset(self, dataset_id: str) -> None:
        self._request("DELETE", f"/v1/datasets/{dataset_id}")

    # -- jobs --

    @overload
    def submit_job(self, spec: Mapping[str, Any], *, dataset_id: str | None = ...,
                   name: str | None = ..., labels: Mapping[str, str] | None = ...,
                   idempotency_key: str | None = ..., dry_run: Literal[False] = ...) -> Job: ...

    @overload
    def submit_job(self, spec: Mapping[str, Any], *, dataset_id: str | None = ...,
                   name: str | None = ..., labels: Mapping[str, str] | None = ...,
                   idempotency_key: str | None = ..., dry_run: Literal[True]) -> Validation: ...

    def submit_job(self, spec: Mapping[str, Any], *, dataset_id: str | None = None,
                   name: str | None = None, labels: Mapping[str, str] | None = None,
                   idempotency_key: str | None = None, dry_run: bool = False
                   ) -> Job | Validation:
        """Submit a job spec (`dataset_id`, `name`, `labels` override the spec's). With
        `idempotency_key` a retry returns the job first created (`replayed=True`);
        `dry_run=True` returns the validation report and queues nothing."""
        body = dict(spec)
        if dataset_id is not None:
            body["dataset_id"] = dataset_id
        if name is not None:
            body["name"] = name
        if labels is not None:
            body["labels"] = dict(labels)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        params = {"dry_run": "true"} if dry_run else {}
        response = self._request("POST", "/v1/jobs", json=body, headers=headers, params=params,
                                 retry=bool(idempotency_key) or dry_run)
        if dry_run:
            return Validation.from_json(response.json())
        return Job.from_json(response.json(), self,
                             replayed=response.headers.get("Idempotent-Replayed") == "true")

    def list_jobs(self, *, status: str | Iterable[str] | None = None,
                  labels: Mapping[str, str] | Iterable[str] | None = None, limit: int = 20,
                  cursor: str | None = None) -> Page[Job]:
        """Newest first. `status`: any of these; `labels`: all of these (a mapping, or
        `key=value` strings)."""
        params: list[tuple[str, Any]] = [("limit", limit)]
        if status is not None:
            params += [("status", s) for s in ([status] if isinstance(status, str) else status)]
        if labels is not None:
            items = ([f"{k}={v}" for k, v in labels.items()] if isinstance(labels, Mapping)
                     else list(labels))
            params += [("label", item) for item in items]
        if cursor:
            params.append(("cursor", cursor))
        body = self._json("GET", "/v1/jobs", params=params)
        return Page([Job.from_json(d, self) for d in body["items"]], body.get("next_cursor"))

    def iter_jobs(self, *, status: str | Iterable[str] | None = None,
                  labels: Mapping[str, str] | Iterable[str] | None = None,
                  page_size: int = 100) -> Iterator[Job]:
        status = [status] if isinstance(status, str) else status
        labels = labels if isinstance(labels, Mapping) or labels is None else list(labels)
        yield from _all_pages(lambda cursor: self.list_jobs(
            status=status, labels=labels, limit=page_size, cursor=cursor))

    def get_job(self, job_id: str) -> Job:
        return Job.from_json(self._json("GET", f"/v1/jobs/{job_id}"), self)

    def cancel_job(self, job_id: str) -> Job:
        return Job.from_json(self._json("POST", f"/v1/jobs/{job_id}/cancel", retry=True), self)

    def job_metrics(self, job_id: str, *, names: Iterable[str] | None = None,
                    min_step: int | None = None, max_step: int | None = None,
                    max_points: int = 1000) -> dict[str, MetricSeries]:
        """Metric series by name (points ascending by step, downsampled to `max_points`)."""
        params: list[tuple[str, Any]] = [("max_points", max_points)]
        params += [("name", n) for n in names or ()]
        if min_step is not None:
            params.append(("min_step", min_step))
        if max_step is not None:
            params.append(("max_step", max_step))
        body = self._json("GET", f"/v1/jobs/{job_id}/metrics", params=params)
        return {s["name"]: MetricSeries(s["name"], [MetricValue(p["step"], p["value"])
                                                    for p in s["points"]],
                                        s["total_points"], s["downsampled"])
                for s in body["series"]}

    def job_events(self, job_id: str, *, limit: int = 50, cursor: str | None = None
                   ) -> Page[Event]:
        """One page of the job's lifecycle events, oldest first."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = self._json("GET", f"/v1/jobs/{job_id}/events", params=params)
        return Page([Event(e["id"], e["type"], e.get("payload") or {}, _dt(e.get("created_at")))
                     for e in body["items"]], body.get("next_cursor"))

    def iter_job_events(self, job_id: str, *, page_size: int = 200) -> Iterator[Event]:
        yield from _all_pages(lambda cursor: self.job_events(job_id, limit=page_size,
                                                             cursor=cursor))

    def job_checkpoints(self, job_id: str, *, limit: int = 50, cursor: str | None = None
                        ) -> Page[Checkpoint]:
        """One page of the job's kept checkpoints, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = self._json("GET", f"/v1/jobs/{job_id}/checkpoints", params=params)
        return Page([Checkpoint(c["id"], c["step"], c["kind"], c["epoch"],
                                dict(c.get("metrics") or {}), c.get("score"), c["sha256"],
                                c["size_bytes"], _dt(c.get("created_at")))
                     for c in body["items"]], body.get("next_cursor"))

    def stream_events(self, job_id: str, *, last_event_id: str | None = None,
                      reconnect: bool = True, keepalives: bool = False
                      ) -> Iterator[StreamMessage]:
        """The job's live feed (server-sent events), oldest first, from after
        `last_event_id`, ending after the `end` message. A dropped connection is resumed
        with `Last-Event-ID` (up to `stream_retries` times in a row, with backoff), so no
        message is lost or repeated; with `reconnect=False` it raises `ConnectionFailed`.
        With `keepalives=True` the server's keep-alive comments (every 15 s while nothing
        happens) come through as `StreamMessage(None, "keep-alive", None)`."""
        path = f"/v1/jobs/{job_id}/events/stream"
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            try:
                # Keep-alives come every 15 s: a read waits at most a minute.
                with self._http.stream("GET", path, headers=headers,
                                       timeout=httpx.Timeout(30.0, read=60.0)) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise error_from_response(response)
                    for message in _parse_sse(response.iter_lines()):
                        if message.event == "keep-alive" and not keepalives:
                            continue
                        failures = 0
                        if message.id:
                            last_event_id = message.id
                        yield message
                        if message.event == "end":
                            return
                problem: Exception = ConnectionFailed("the event stream closed before its end")
            except httpx.TransportError as exc:
                problem = exc
            failures += 1
            if not reconnect or failures > self.stream_retries:
                if isinstance(problem, ApiError):
                    raise problem
                raise ConnectionFailed(f"event stream of job {job_id} from {self.base_url} "
                                       f"failed: {problem or type(problem).__name__}"
                                       ) from problem
            time.sleep(min(self.retry_backoff * 2 ** (failures - 1), 10.0))

    def download_weights(self, job_id: str, path: str | os.PathLike[str] | None = None, *,
                         checkpoint: str | int | None = None) -> Weights:
        """The job's final weights (or `checkpoint="best"` or a kept checkpoint's step) as
        safetensors, checked against `X-Checksum-SHA256` (`ChecksumMismatch` otherwise).
        With `path` the file is written there (atomically), else the bytes are returned."""
        params = {"checkpoint": str(checkpoint)} if checkpoint is not None else {}
        url = f"/v1/jobs/{job_id}/weights"
        try:
            with self._http.stream("GET", url, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                expected = (response.headers.get("X-Checksum-SHA256") or "").lower()
                digest, size = hashlib.sha256(), 0
                if path is None:
                    chunks = []
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        size += len(chunk)
                        chunks.append(chunk)
                    _check_sha(expected, digest.hexdigest())
                    return Weights(digest.hexdigest(), size, data=b"".join(chunks))
                target = _paths(path)
                fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
                try:
                    with os.fdopen(fd, "wb") as out:
                        for chunk in response.iter_bytes():
                            digest.update(chunk)
                            size += len(chunk)
                            out.write(chunk)
                    _check_sha(expected, digest.hexdigest())
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                return Weights(digest.hexdigest(), size, path=target)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"downloading the weights of job {job_id} from "
                                   f"{self.base_url} failed: {exc or type(exc).__name__}"
                                   ) from exc

    def wait_for_job(self, job_id: str, *, mode: Literal["stream", "poll"] = "stream",
                     timeout: float | None = None,
                     on_progress: Callable[[JobProgress], object] | None = None,
                     poll_interval: float = 1.0) -> Job:
        """See `Job.wait`."""
        waiter = _Waiter(self, job_id, timeout, on_progress)
        if mode == "stream":
            try:
                return waiter.stream(poll_interval)
            except (ConnectionFailed, BadRequest, ServiceUnavailable):
                pass  # no stream to be had: poll instead
        elif mode != "poll":
            raise ValueError(f"mode must be 'stream' or 'poll', not {mode!r}")
        return waiter.poll(poll_interval)

    # -- keys --

    def create_key(self, name: str | None = None) -> ApiKey:
        """A new key for this team; its secret is in `.key`, shown this once."""
        return ApiKey.from_json(self._json("POST", "/v1/keys",
                                           json={"name": name} if name is not None else {}))

    def list_keys(self) -> list[ApiKey]:
        return [ApiKey.from_json(k) for k in self._json("GET", "/v1/keys")["items"]]

    def revoke_key(self, key_id: str) -> None:
        self._request("DELETE", f"/v1/keys/{key_id}")


def _retry_after(value: str) -> float:
    try:
        return min(max(float(value), 0.05), 10.0)
    except ValueError:
        return 1.0


def _check_sha(expected: str, actual: str) -> None:
    if not expected:
        raise ChecksumMismatch("the server sent no X-Checksum-SHA256 to check the weights by")
    if expected != actual:
        raise ChecksumMismatch(f"downloaded weights have SHA-256 {actual}, the server said "
                               f"{expected}")


def _all_pages(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _parse_sse(lines: Iterable[str]) -> Iterator[StreamMessage]:
    """Server-sent events from a stream's lines (the `text/event-stream` rules: `field:
    value`, one leading space dropped, `data` lines joined, comments skipped)."""
    event_id: str | None = None
    event, data = "", []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    payload: Any = json.loads(text)
                except ValueError:
                    payload = text
                yield StreamMessage(event_id, event or "message", payload)
            event, data = "", []
            continue
        if line.startswith(":"):
            yield StreamMessage(None, "keep-alive", None)
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value


class _Waiter:
    """`Job.wait`: follows a job to its end, reporting progress (at most ~10 times a
    second, and always its last state)."""

    REFRESH_S = 1.0  # how often the stream waiter re-reads the job (epoch, server ETA)

    def __init__(self, client: Client, job_id: str, timeout: float | None,
                 on_progress: Callable[[JobProgress], object] | None) -> None:
        self.client, self.job_id, self.on_progress = client, job_id, on_progress
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.job: Job | None = None
        self.step, self.loss = 0, None
        self.rate_start: tuple[float, int] | None = None  # (time, step) seen first
        self.last_report = 0.0

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            status = self.job.status if self.job else "unknown"
            raise WaitTimeout(f"job {self.job_id} did not end in time (still {status})")

    def _update(self, job: Job) -> None:
        self.job = job
        self.step = max(self.step, job.progress.step)
        loss = job.latest_metrics.get("loss") or job.latest_metrics.get("train_loss")
        if loss is not None and (self.loss is None or loss.step >= self.step):
            self.loss = loss.value

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is None or self.job is None:
            return
        if not force and now - self.last_report < 0.1:
            return
        self.last_report = now
        job, total = self.job, self.job.progress.total_steps
        step = min(self.step, total) if total else self.step
        percent = round(100.0 * step / total, 2) if total else job.progress.percent
        eta = job.progress.eta_seconds  # the server's, from the worker's throughput
        if job.finished:
            eta = 0.0 if job.status == "succeeded" else None
        elif eta is None and self.rate_start is not None and total and step > self.rate_start[1]:
            t0, s0 = self.rate_start
            eta = (total - step) * (now - t0) / (step - s0)  # the rate seen while waiting
        epoch = job.progress.epoch
        self.on_progress(JobProgress(job.id, job.status, epoch, step, total, percent,
                                     self.loss, eta))

    def _see_step(self, step: int) -> None:
        if self.rate_start is None:
            self.rate_start = (time.monotonic(), step)
        self.step = max(self.step, step)

    def stream(self, poll_interval: float) -> Job:
        self._update(self.client.get_job(self.job_id))
        # The stream first replays what is past: measure the rate from here on.
        self.rate_start = (time.monotonic(), self.step)
        self._report(force=True)
        if self.job is not None and self.job.finished:
            return self.job
        refreshed = time.monotonic()
        for message in self.client.stream_events(self.job_id, keepalives=True):
            self._check_deadline()
            if message.event == "end":
                break
            if message.event == "metric" and isinstance(message.data, dict):
                if message.data.get("name") == "loss":
                    self._see_step(int(message.data.get("step", 0)))
                    self.loss = message.data.get("value")
            if message.event == "status" or time.monotonic() - refreshed >= self.REFRESH_S:
                refreshed = time.monotonic()
                self._update(self.client.get_job(self.job_id))
            self._report()
        return self._finish(poll_interval)

    def poll(self, poll_interval: float) -> Job:
        while True:
            job = self.client.get_job(self.job_id)
            self._see_step(job.progress.step)
            self._update(job)
            if job.finished:
                self._report(force=True)
                return job
            self._report()
            self._check_deadline()
            time.sleep(poll_interval)

    def _finish(self, poll_interval: float) -> Job:
        job = self.client.get_job(self.job_id)
        while not job.finished:  # the stream ended first: the status commits at once
            self._check_deadline()
            time.sleep(min(poll_interval, 0.2))
            job = self.client.get_job(self.job_id)
        self._update(job)
        self._report(force=True)
        return job
