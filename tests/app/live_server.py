"""A live Trainforge server (`python -m app.cli serve --workers 1`) for the client and
CLI tests: one per xdist worker and database backend (SQLite, PostgreSQL), on its own
scratch database (the per-test emptying of `database` does not touch it), shared by
every test of the session. Import the fixtures into a test module:

    from tests.app.live_server import Live, live  # noqa: F401
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.conftest import BACKENDS, worker_tag

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"\btf_[A-Za-z0-9_-]{20,}")
# Quick claims and heartbeats: jobs start at once and report progress often.
SERVER_ENV = {"TRAINFORGE_POLL_SECONDS": "0.1", "TRAINFORGE_HEARTBEAT_SECONDS": "0.5",
              "TRAINFORGE_LOG_LEVEL": "warning"}

XOR_INPUTS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_TARGETS = [0, 1, 1, 0]


def xor_spec(epochs: int = 30, **overrides: Any) -> dict[str, Any]:
    """A tiny MLP job for XOR (no dataset_id: pass it on submission)."""
    spec: dict[str, Any] = {
        "model": {"layers": [{"type": "Linear", "in_features": 2, "out_features": 8},
                             {"type": "Tanh"},
                             {"type": "Linear", "in_features": 8, "out_features": 2}]},
        "loss": {"type": "CrossEntropyLoss"}, "optimizer": {"type": "Adam", "lr": 0.05},
        "epochs": epochs, "batch_size": 4, "seed": 7, "metrics": ["accuracy"]}
    spec.update(overrides)
    return spec


@dataclass
class Live:
    url: str
    key: str
    database_url: str
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str, log: Path, timeout: float = 60.0
                 ) -> tuple[subprocess.Popen[bytes], Live]:
    port = _free_port()
    env = {**os.environ, **SERVER_ENV, "TRAINFORGE_DATABASE_URL": database_url}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "1",
             "--worker-device", "cpu", "--first-team", "live"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    key = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-4000:]}")
        if key is None:
            found = KEY.search(log.read_text(errors="replace"))
            key = found.group() if found else None
        if key is not None:
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    return proc, Live(url, key, database_url, log)
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"the server did not start in {timeout} s: {log.read_text()[-4000:]}")


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGINT, as Ctrl-C: uvicorn stops, then `serve` stops its worker. (Not SIGTERM:
    uvicorn re-raises it after shutting down, which ends `serve` before it stops its
    workers.) Whatever is left of the process group after that is killed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    for sig, pause in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and _group_alive(proc.pid):
            time.sleep(0.05)
    if proc.poll() is None:
        proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="session", params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Live]:
    """A running server with one CPU worker and a team whose key is `live.key`."""
    folder = tmp_path_factory.mktemp(f"live-{request.param}")
    name = None
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'trainforge.db'}"
    else:
        admin = request.getfixturevalue("pg_admin")
        name = f"trainforge_test_{worker_tag()}_live"
        database_url = admin.create(name)
    proc, server = start_server(database_url, folder / "server.log")
    try:
        yield server
    finally:
        stop_server(proc)
        if name is not None:
            request.getfixturevalue("pg_admin").drop(name)
