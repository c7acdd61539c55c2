"""`app.client.Client` against a live server process (SQLite and PostgreSQL): datasets in
every format, submission (dry run, Idempotency-Key), waiting with progress (stream and
poll), metrics, events, checkpoints, weights (checksum-verified, loadable), keys, typed
errors, and the event stream resumed with Last-Event-ID after a dropped connection."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from safetensors.numpy import load as load_safetensors

import engine
from app.client import (
    ApiError,
    Client,
    Conflict,
    ConnectionFailed,
    Job,
    JobProgress,
    NotFound,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    Validation,
    ValidationFailed,
    WaitTimeout,
)
from app.spec.build import build_model
from app.spec.schema import ModelSpec
from tests.app.helpers import npy_bytes, npz_bytes
from tests.app.live_server import XOR_INPUTS, XOR_TARGETS, Live, live, xor_spec  # noqa: F401


@pytest.fixture
def tf(live: Live) -> Iterator[Client]:  # noqa: F811
    with Client(live.url, live.key, retry_backoff=0.01) as client:
        yield client


@pytest.fixture
def finished_job(tf: Client) -> Job:
    dataset = tf.create_dataset("xor", np.array(XOR_INPUTS), np.array(XOR_TARGETS))
    job = tf.submit_job(xor_spec(), dataset_id=dataset.id, labels={"suite": "client"})
    done = job.wait(timeout=60)
    assert done.status == "succeeded", done
    return done


def test_datasets_in_every_format(tf: Client, tmp_path: Path) -> None:
    x = np.array([[0.5, 1.0], [2.0, 3.0], [4.0, 5.5]], dtype=np.float32)
    y = np.array([0, 1, 2])
    (tmp_path / "d.json").write_text(json.dumps({"inputs": x.tolist(), "targets": y.tolist()}))
    (tmp_path / "d.csv").write_text("a,b,label\n0.5,1,0\n2,3,1\n4,5.5,2\n")
    (tmp_path / "d.npz").write_bytes(npz_bytes(inputs=x, targets=y))
    (tmp_path / "x.npy").write_bytes(npy_bytes(x))
    (tmp_path / "y.npy").write_bytes(npy_bytes(y))
    made = [tf.create_dataset("lists", x.tolist(), y.tolist()),
            tf.upload_arrays("arrays", x, y),
            tf.upload_dataset(tmp_path / "d.json"),
            tf.upload_dataset(tmp_path / "d.csv", target_column="label", name="csv"),
            tf.upload_dataset(tmp_path / "d.npz"),
            tf.upload_dataset(tmp_path / "x.npy", targets_path=tmp_path / "y.npy")]
    assert [d.format for d in made] == ["json", "npz", "json", "csv", "npz", "npy"]
    assert made[2].name == "d" and made[3].name == "csv"
    assert {d.sha256 for d in made} == {made[0].sha256}  # the same arrays every way
    assert all(d.rows == 3 and d.input_shape == [2] and d.num_classes == 3 for d in made)

    page = tf.list_datasets(limit=2)
    assert len(page.items) == 2 and page.next_cursor
    listed = {d.id for d in tf.iter_datasets(page_size=2)}
    assert {d.id for d in made} <= listed
    assert tf.get_dataset(made[0].id) == made[0]
    tf.delete_dataset(made[0].id)
    with pytest.raises(NotFound) as err:
        tf.get_dataset(made[0].id)
    assert err.value.status == 404 and err.value.code == "not_found"
    with pytest.raises(ValueError, match="target column"):
        tf.upload_dataset(tmp_path / "d.csv")


def test_submit_wait_with_progress_and_read_everything(tf: Client, tmp_path: Path) -> None:
    dataset = tf.upload_arrays("xor", np.array(XOR_INPUTS, np.float32), np.array(XOR_TARGETS))
    report = tf.submit_job(xor_spec(), dataset_id=dataset.id, dry_run=True)
    assert isinstance(report, Validation) and report.total_steps == 30
    assert report.parameters == 2 * 8 + 8 + 8 * 2 + 2

    key = f"k-{uuid.uuid4()}"
    job = tf.submit_job(xor_spec(), dataset_id=dataset.id, name="xor-client",
                        labels={"suite": "client"}, idempotency_key=key)
    again = tf.submit_job(xor_spec(), dataset_id=dataset.id, name="xor-client",
                          labels={"suite": "client"}, idempotency_key=key)
    assert again.id == job.id and again.replayed and not job.replayed
    seen: list[JobProgress] = []
    done = job.wait(timeout=60, on_progress=seen.append)
    assert done.status == "succeeded" and done.finished and done.progress.step == 30
    assert seen and seen[-1].status == "succeeded" and seen[-1].percent == 100.0
    assert seen[-1].step == 30 and seen[-1].total_steps == 30 and seen[-1].epoch == 30
    assert seen[-1].loss is not None and seen[-1].eta_seconds == 0.0
    assert [p.step for p in seen] == sorted(p.step for p in seen)

    assert done.id in {j.id for j in tf.list_jobs(status="succeeded", labels={"suite": "client"},
                                                  limit=100).items}
    assert done.id not in {j.id for j in tf.iter_jobs(status=["queued", "failed"])}

    metrics = tf.job_metrics(done.id, names=["loss", "train_accuracy"], max_points=5)
    assert set(metrics) == {"loss", "train_accuracy"}
    assert metrics["loss"].total_points == 30 and len(metrics["loss"].points) == 5
    assert metrics["loss"].downsampled and metrics["loss"].steps[-1] == 30

    first = tf.job_events(done.id, limit=2)
    assert len(first.items) == 2 and first.next_cursor and first.items[0].type == "created"
    events = list(tf.iter_job_events(done.id, page_size=2))
    assert events[:2] == first.items and events[-1].type == "succeeded"
    assert [e.id for e in events] == sorted({e.id for e in events})

    checkpoints = tf.job_checkpoints(done.id).items
    final = next(c for c in checkpoints if c.kind == "weights")
    weights = tf.download_weights(done.id)
    assert weights.data is not None and weights.sha256 == final.sha256
    assert hashlib.sha256(weights.data).hexdigest() == final.sha256
    written = tf.download_weights(done.id, tmp_path / "model.safetensors")
    assert written.path is not None and written.path.read_bytes() == weights.data
    # The file loads with safetensors and into the engine model of the spec.
    arrays = load_safetensors(weights.data)
    model = build_model(ModelSpec.model_validate(done.spec["model"]))
    assert set(arrays) == set(model.state_dict())
    model.load_state_dict(engine.load(weights.data))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), arrays[name])
    model.eval()
    with engine.no_grad():
        predicted = model(engine.tensor(np.array(XOR_INPUTS, np.float32))).argmax(dim=1)
    assert predicted.numpy().tolist() == XOR_TARGETS
    older = next(c for c in checkpoints if c.kind != "weights")
    assert tf.download_weights(done.id, checkpoint=older.step).sha256 != final.sha256


def test_wait_by_polling(tf: Client) -> None:
    dataset = tf.create_dataset("xor", XOR_INPUTS, XOR_TARGETS)
    job = tf.submit_job(xor_spec(epochs=5), dataset_id=dataset.id)
    seen: list[JobProgress] = []
    done = tf.wait_for_job(job.id, mode="poll", poll_interval=0.05, on_progress=seen.append)
    assert done.status == "succeeded" and seen[-1].percent == 100.0


def test_typed_errors(tf: Client, live: Live, finished_job: Job) -> None:  # noqa: F811
    with pytest.raises(NotFound) as missing:
        tf.get_job(str(uuid.uuid4()))
    assert missing.value.status == 404 and "not found" in missing.value.message.lower()
    with pytest.raises(NotFound):
        list(tf.stream_events(str(uuid.uuid4())))
    with pytest.raises(Conflict) as finished:
        tf.cancel_job(finished_job.id)
    assert finished.value.code == "job_finished" and finished.value.status == 409
    bad = xor_spec()
    bad["model"]["layers"][2]["in_features"] = 5
    with pytest.raises(ValidationFailed) as invalid:
        tf.submit_job(bad, dataset_id=finished_job.dataset_id)
    assert invalid.value.errors[0]["loc"] == ["body", "model", "layers", 2, "in_features"]
    assert "layers[2].in_features" in invalid.value.message
    with Client(live.url, "tf_not-a-key") as stranger, pytest.raises(Unauthorized) as denied:
        stranger.list_jobs()
    assert denied.value.status == 401 and isinstance(denied.value, ApiError)
    with Client("http://127.0.0.1:9", "x", timeout=2) as nowhere, \
            pytest.raises(ConnectionFailed) as down:
        nowhere.get_job(finished_job.id)
    assert down.value.status == 0 and "127.0.0.1:9" in down.value.message


def test_keys_create_list_revoke(tf: Client, live: Live) -> None:  # noqa: F811
    created = tf.create_key("client-test")
    assert created.key and created.name == "client-test"
    listed = {k.id: k for k in tf.list_keys()}
    assert created.id in listed and listed[created.id].key is None
    assert any(k.current for k in listed.values())
    with Client(live.url, created.key) as other:
        assert any(k.current and k.id == created.id for k in other.list_keys())
        tf.revoke_key(created.id)
        with pytest.raises(Unauthorized):
            other.list_keys()


class _CutStream(httpx.SyncByteStream):
    """A response body that breaks (as a dropped connection does) after `chunks` chunks."""

    def __init__(self, inner: Any, chunks: int) -> None:
        self.inner, self.chunks = inner, chunks

    def __iter__(self) -> Iterator[bytes]:
        for i, chunk in enumerate(self.inner):
            if i >= self.chunks:
                raise httpx.RemoteProtocolError("peer closed connection (test)")
            yield chunk[: len(chunk) // 2] if i == self.chunks - 1 else chunk  # mid-message

    def close(self) -> None:
        self.inner.close()


class DroppingTransport(httpx.BaseTransport):
    """Cuts the first `drops` event streams; records each stream request's Last-Event-ID."""

    def __init__(self, drops: int, chunks: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.drops, self.chunks = drops, chunks
        self.last_event_ids: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/events/stream"):
            self.last_event_ids.append(request.headers.get("Last-Event-ID"))
            if self.drops > 0:
                self.drops -= 1
                return httpx.Response(response.status_code, headers=response.headers,
                                      stream=_CutStream(response.stream, self.chunks),
                                      request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_stream_resumes_with_last_event_id(tf: Client, live: Live,  # noqa: F811
                                           finished_job: Job) -> None:
    everything = list(tf.stream_events(finished_job.id))
    assert everything[-1].event == "end" and everything[-1].data == {"status": "succeeded"}
    kinds = {m.event for m in everything}
    assert {"status", "metric", "end"} <= kinds
    ids = [m.id for m in everything]
    assert all(ids) and len(set(ids[:-1])) == len(ids) - 1

    middle = len(everything) // 2
    rest = list(tf.stream_events(finished_job.id, last_event_id=everything[middle].id))
    assert rest == everything[middle + 1:]

    transport = DroppingTransport(drops=2, chunks=3)
    with Client(live.url, live.key, transport=transport, retry_backoff=0.01) as flaky:
        resumed = list(flaky.stream_events(finished_job.id))
    assert resumed == everything  # nothing lost, nothing repeated
    assert len(transport.last_event_ids) == 3 and transport.last_event_ids[0] is None
    assert transport.last_event_ids[1] in ids and transport.last_event_ids[2] in ids

    transport = DroppingTransport(drops=1, chunks=2)
    with Client(live.url, live.key, transport=transport) as flaky, \
            pytest.raises(ConnectionFailed):
        list(flaky.stream_events(finished_job.id, reconnect=False))


def test_wait_times_out_then_falls_back_to_polling(tf: Client, live: Live) -> None:  # noqa: F811
    dataset = tf.create_dataset("xor", XOR_INPUTS, XOR_TARGETS)
    job = tf.submit_job({**xor_spec(epochs=100_000), "batch_size": 1}, dataset_id=dataset.id)
    try:
        with pytest.raises(WaitTimeout) as late:
            job.wait(timeout=0.3)
        assert late.value.code == "timeout" and isinstance(late.value, TimeoutError)
        # No event stream to be had (every stream is cut at once): `wait` polls instead.
        # The job is still queued or running; it ends when the cancel below lands.
        transport = DroppingTransport(drops=100, chunks=0)
        threading.Timer(1.0, lambda: tf.cancel_job(job.id)).start()
        with Client(live.url, live.key, transport=transport, stream_retries=1,
                    retry_backoff=0.01) as flaky:
            ended = flaky.get_job(job.id).wait(timeout=60, poll_interval=0.1)
    finally:
        tf.cancel_job(job.id)  # idempotent
    assert ended.status == "cancelled" and len(transport.last_event_ids) >= 1


def test_busy_database_is_retried_when_safe_and_odd_errors_stay_typed() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if len(calls) % 2 == 1:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={
                "detail": {"code": "database_unavailable", "message": "database is busy"}})
        if request.url.path == "/v1/datasets":
            return httpx.Response(502, text="<html>bad gateway</html>")
        return httpx.Response(200, json={"items": []})

    with Client("http://tf.test", "k", transport=httpx.MockTransport(answer)) as tf:
        assert tf.list_keys() == [] and len(calls) == 2  # a GET: retried
        with pytest.raises(ServiceUnavailable) as busy:  # a POST without a key: not
            tf.create_key("x")
        assert busy.value.code == "database_unavailable" and len(calls) == 3
        with pytest.raises(ServerError) as gateway:
            tf.list_datasets()
        assert gateway.value.status == 502 and "bad gateway" in gateway.value.message


def test_the_readme_client_example_runs(live: Live) -> None:  # noqa: F811
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S)
                 if "def train_xor" in b)
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    weights = namespace["train_xor"](live.url, live.key)
    state = engine.load(weights)
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]
