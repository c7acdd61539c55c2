"""The client commands of `trainforge` (datasets, jobs, keys) against a live server process
(SQLite and PostgreSQL): upload, submit --wait with its progress line, logs --follow,
metrics (table and PNG), download, export to PyTorch, keys, and one-line errors."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

import engine
from app import cli
from app.cli_client import ProgressBar
from app.client import Client, JobProgress
from app.spec.build import build_model
from app.spec.schema import ModelSpec
from tests.app.live_server import ROOT, XOR_INPUTS, XOR_TARGETS, Live, live, xor_spec  # noqa: F401


@pytest.fixture
def run(live: Live, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> Any:
    """`run(*argv, key=...) -> (exit status, stdout, stderr)`, in process."""
    monkeypatch.setenv("TRAINFORGE_URL", live.url)

    def call(*argv: str, key: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setenv("TRAINFORGE_API_KEY", key or live.key)
        capsys.readouterr()
        status = cli.main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return call


def _one_error_line(err: str, code: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert lines[0].endswith(f"{code})"), err  # e.g. job_not_found


def _upload_xor(run: Any, tmp_path: Path) -> str:
    data = tmp_path / "xor.json"
    data.write_text(json.dumps({"inputs": XOR_INPUTS, "targets": XOR_TARGETS}))
    status, out, _ = run("datasets", "upload", str(data), "--name", "xor-cli")
    assert status == 0 and out.startswith("uploaded ") and "4 rows" in out
    return out.split()[1]


def test_upload_submit_wait_logs_metrics_download_export(run: Any, tmp_path: Path) -> None:
    dataset_id = _upload_xor(run, tmp_path)
    status, out, _ = run("datasets", "list", "--json")
    assert status == 0 and dataset_id in {d["id"] for d in json.loads(out)}
    status, out, _ = run("datasets", "list")
    assert status == 0 and out.startswith("ID") and dataset_id in out

    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({**xor_spec(epochs=40), "labels": {"suite": "cli"}}))
    status, out, err = run("jobs", "submit", str(spec), "--dataset", dataset_id, "--wait")
    assert status == 0, err
    job_id = out.split()[0]
    assert uuid.UUID(job_id)
    # stderr is no terminal here: plain progress lines, the last one complete.
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert progress and "\r" not in err
    assert "100.0%" in progress[-1] and "epoch 40" in progress[-1]
    assert "step 40/40" in progress[-1] and "loss " in progress[-1]
    assert f"job {job_id} succeeded after 40 steps" in err

    status, out, _ = run("jobs", "show", job_id, "--json")
    assert status == 0 and json.loads(out)["status"] == "succeeded"
    status, out, _ = run("jobs", "show", job_id)
    assert status == 0 and "succeeded" in out and "train_accuracy" in out
    status, out, _ = run("jobs", "list", "--status", "succeeded", "--label", "suite=cli",
                         "--json")
    assert status == 0 and job_id in {j["id"] for j in json.loads(out)}
    status, out, _ = run("jobs", "list", "--status", "queued", "--label", "suite=cli")
    assert status == 0 and job_id not in out

    status, out, _ = run("jobs", "logs", job_id)
    assert status == 0 and out.splitlines()[0].split()[2] == "created"
    assert "succeeded" in out.splitlines()[-1]
    status, out, _ = run("jobs", "logs", job_id, "--follow")
    assert status == 0 and out.rstrip().endswith("-- job ended: succeeded")
    assert "claimed" in out and "metric" not in out
    status, out, _ = run("jobs", "logs", job_id, "--follow", "--metrics", "--json")
    messages = [json.loads(line) for line in out.splitlines()]
    assert messages[-1]["event"] == "end" and any(m["event"] == "metric" for m in messages)

    status, out, _ = run("jobs", "metrics", job_id, "--name", "loss", "--name", "train_loss")
    assert status == 0 and out.split()[:3] == ["STEP", "loss", "train_loss"]
    assert "\n40 " in out
    if importlib.util.find_spec("matplotlib") is not None:
        status, out, err = run("jobs", "metrics", job_id, "--plot", str(tmp_path / "loss.png"))
        assert status == 0, err
        assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    weights = tmp_path / "model.safetensors"
    status, out, err = run("jobs", "download", job_id, "-o", str(weights))
    assert status == 0 and "checksum verified" in out, err
    arrays = load_file(str(weights))
    model = build_model(ModelSpec.model_validate(xor_spec()["model"]))
    model.load_state_dict(engine.load(str(weights)))
    assert set(arrays) == set(model.state_dict())
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), arrays[name])
    status, _, err = run("jobs", "download", job_id, "-o", str(weights), "--checkpoint", "99")
    _one_error_line(err, "not_found")
    assert status != 0

    status, out, err = run("jobs", "export", job_id, "--framework", "torch", "-o",
                           str(tmp_path / "exported.py"))
    if importlib.util.find_spec("app.spec.export_torch") is None:
        _one_error_line(err, "bad_argument")
        pytest.skip("app.spec.export_torch is not there yet")
    assert status == 0, err
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load

    module_spec = importlib.util.spec_from_file_location("exported", tmp_path / "exported.py")
    assert module_spec is not None and module_spec.loader is not None
    exported = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(exported)
    torch_model = exported.build()
    torch_model.load_state_dict(torch_load(str(weights)))
    torch_model.eval()
    model.eval()
    x = np.array(XOR_INPUTS, np.float32)
    with torch.no_grad(), engine.no_grad():
        theirs = torch_model(torch.from_numpy(x)).numpy()
        ours = model(engine.tensor(x)).numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-6)
    assert theirs.argmax(axis=1).tolist() == XOR_TARGETS


def test_wait_exits_non_zero_for_a_job_that_did_not_succeed(run: Any, live: Live,  # noqa: F811
                                                             tmp_path: Path) -> None:
    dataset_id = _upload_xor(run, tmp_path)
    label = f"cancel-{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "long.json"
    spec.write_text(json.dumps({**xor_spec(epochs=100_000), "batch_size": 1,
                                "labels": {"run": label}}))
    stop = threading.Event()

    def cancel_when_running() -> None:
        with Client(live.url, live.key) as tf:
            while not stop.is_set():
                for job in tf.list_jobs(labels={"run": label}).items:
                    if job.progress.step > 0:
                        tf.cancel_job(job.id)
                        return
                stop.wait(0.05)

    canceller = threading.Thread(target=cancel_when_running, daemon=True)
    canceller.start()
    try:
        status, out, err = run("jobs", "submit", str(spec), "--dataset", dataset_id, "--wait",
                               "--timeout", "60")
    finally:
        stop.set()
        canceller.join(10)
    assert status == 1
    assert err.strip().splitlines()[-1] == f"error: job {out.split()[0]} cancelled"


def test_errors_are_one_line(run: Any, live: Live, tmp_path: Path) -> None:  # noqa: F811
    status, _, err = run("jobs", "list", key="tf_wrong")
    assert status == 1
    _one_error_line(err, "unauthorized")
    missing = str(uuid.uuid4())
    for argv in (["jobs", "show", missing], ["jobs", "cancel", missing],
                 ["jobs", "logs", missing, "--follow"], ["datasets", "show", missing]):
        status, _, err = run(*argv)
        assert status == 1, argv
        _one_error_line(err, "not_found")
    spec = tmp_path / "bad.json"
    bad = xor_spec()
    bad["model"]["layers"][2]["in_features"] = 5
    spec.write_text(json.dumps(bad))
    status, _, err = run("jobs", "submit", str(spec), "--dataset", _upload_xor(run, tmp_path))
    assert status == 1 and "model.layers[2].in_features" in err
    _one_error_line(err, "validation_failed")
    status, _, err = run("jobs", "submit", str(tmp_path / "nope.json"))
    _one_error_line(err, "io_error")
    status, _, err = run("datasets", "upload", str(tmp_path / "bad.json"))
    _one_error_line(err, "bad_argument")
    assert status == 1
    # The console entry point: no traceback, whatever goes wrong.
    done = subprocess.run([sys.executable, "-m", "app.cli", "jobs", "show", missing],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "TRAINFORGE_URL": "http://127.0.0.1:9",
                               "TRAINFORGE_API_KEY": live.key})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    _one_error_line(done.stderr, "connection_failed")


def test_keys_commands(run: Any) -> None:
    status, out, _ = run("keys", "create", "--name", "cli-key")
    assert status == 0
    secret = out.split()[-1]
    key_id = out.split()[2]
    assert secret.startswith("tf_")
    status, out, _ = run("keys", "list", key=secret)
    assert status == 0 and key_id in out and "(this key)" in out
    status, out, _ = run("keys", "list", "--json")
    assert status == 0 and key_id in {k["id"] for k in json.loads(out)}
    status, out, _ = run("keys", "revoke", key_id)
    assert status == 0 and key_id in out
    status, _, err = run("keys", "list", key=secret)
    assert status == 1
    _one_error_line(err, "unauthorized")


def _progress(step: int, status: str = "running") -> JobProgress:
    return JobProgress("j", status, epoch=step // 10, step=step, total_steps=100,
                       percent=float(step), loss=0.5, eta_seconds=75.0)


def test_progress_bar_redraws_on_a_terminal_and_prints_lines_otherwise() -> None:
    line = ProgressBar.render(_progress(50))
    assert line.startswith("[############............]  50.0%  epoch 5  step 50/100")
    assert "loss 0.5000" in line and "ETA 01:15" in line
    tty = io.StringIO()
    bar = ProgressBar(tty, tty=True)
    for step in (10, 20, 100):
        bar.update(_progress(step, "succeeded" if step == 100 else "running"))
    bar.close()
    assert tty.getvalue().count("\r") == 3 and tty.getvalue().endswith("\n")
    assert tty.getvalue().count("\n") == 1
    plain = io.StringIO()
    bar = ProgressBar(plain, tty=False, interval=3600)
    for step in (10, 20, 30, 100):
        bar.update(_progress(step, "succeeded" if step == 100 else "running"))
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue() and len(lines) == 2  # the first, then the last
    assert "step 100/100" in lines[-1] and "ETA" not in lines[-1]
