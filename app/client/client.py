"""`Client`: the Trainforge API's routes as typed calls (httpx, synchronous)."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, overload

import httpx

from app.client.errors import (
    BadRequest,
    ConnectionFailed,
    ServiceUnavailable,
    error_from_response,
)
from app.client.models import (
    ApiKey,
    Checkpoint,
    Dataset,
    Event,
    Job,
    JobProgress,
    MetricSeries,
    MetricValue,
    Page,
    StreamMessage,
    T,
    Validation,
    Weights,
    _dt,
)
from app.client.sse import follow_events
from app.client.wait import Waiter
from app.client.weights import download_weights

DEFAULT_URL = "http://127.0.0.1:8000"


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
        yield from follow_events(self, job_id, last_event_id=last_event_id,
                                 reconnect=reconnect, keepalives=keepalives)

    def download_weights(self, job_id: str, path: str | os.PathLike[str] | None = None, *,
                         checkpoint: str | int | None = None) -> Weights:
        """The job's final weights (or `checkpoint="best"` or a kept checkpoint's step) as
        safetensors, checked against `X-Checksum-SHA256` (`ChecksumMismatch` otherwise).
        With `path` the file is written there (atomically), else the bytes are returned."""
        return download_weights(self, job_id, path, checkpoint)

    def wait_for_job(self, job_id: str, *, mode: Literal["stream", "poll"] = "stream",
                     timeout: float | None = None,
                     on_progress: Callable[[JobProgress], object] | None = None,
                     poll_interval: float = 1.0) -> Job:
        """See `Job.wait`."""
        waiter = Waiter(self, job_id, timeout, on_progress)
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


def _all_pages(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor
