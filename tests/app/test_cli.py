"""The `trainforge` command line: migrate, team create, key create, serve."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from app import cli
from tests.app.conftest import TestClient

KEY = re.compile(r"tf_[A-Za-z0-9_-]{43}")


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRAINFORGE_DATABASE_URL", database_url)
    return database_url


def _key_works(client: TestClient, key: str) -> bool:
    return client.get("/v1/keys", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_migrate_team_create_and_key_create(env: str, client: TestClient,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["team", "create", "cli-team"]) == 0
    first = KEY.findall(capsys.readouterr().out)
    assert len(first) == 1 and _key_works(client, first[0])
    assert cli.main(["key", "create", "cli-team", "--name", "ci"]) == 0
    second = KEY.findall(capsys.readouterr().out)
    assert len(second) == 1 and second != first and _key_works(client, second[0])
    assert cli.main(["team", "create", "cli-team"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["key", "create", "nobody"]) == 1
    assert cli.main(["team", "create", "bad\u0000name"]) == 1


def test_commands_refuse_an_unmigrated_database(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRAINFORGE_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    assert cli.main(["team", "create", "x"]) == 1
    assert "trainforge migrate" in capsys.readouterr().err


def test_serve_migrates_creates_the_first_team_and_runs_uvicorn(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs: list[dict] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: runs.append({"app": app, **kw}))
    assert cli.main(["serve", "--port", "8123", "--first-team", "first", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert len(KEY.findall(out)) == 1 and "http://127.0.0.1:8123/docs" in out
    assert runs[0]["host"] == "127.0.0.1" and runs[0]["port"] == 8123
    with TestClient(runs[0]["app"]) as client:
        assert _key_works(client, KEY.findall(out)[0])
    assert cli.main(["serve", "--first-team", "first", "--workers", "0"]) == 0  # no new key
    assert not KEY.findall(capsys.readouterr().out)


def test_serve_runs_worker_processes_beside_the_api_and_stops_them(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from sqlalchemy import text

    from app.config import Settings
    from app.db import Database

    seen: dict = {}

    def fake_run(app, **kw):  # stands in for uvicorn: wait until the worker registered
        db = Database.from_settings(Settings())
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with db.engine.connect() as conn:
                    seen["workers"] = conn.execute(text("SELECT count(*) FROM workers")).scalar()
                if seen["workers"]:
                    return
                time.sleep(0.2)
        finally:
            db.dispose()

    started: list = []
    real_start = cli._start_workers
    monkeypatch.setattr("uvicorn.run", fake_run)
    monkeypatch.setattr(cli, "_start_workers",
                        lambda n, device: started.extend(real_start(n, device)) or started)
    assert cli.main(["serve", "--workers", "1"]) == 0
    assert seen["workers"] == 1
    assert len(started) == 1 and started[0].poll() is not None  # stopped with the API


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_serve_and_its_workers(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TRAINFORGE_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    serve = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                              "--workers", "1", "--worker-device", "cpu"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "serve did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        workers = _children(serve.pid)
        assert len(workers) == 1
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _alive(workers[0]):
            assert time.monotonic() < deadline, "the worker outlived serve"
            time.sleep(0.1)
    finally:
        if serve.poll() is None:
            serve.kill()
