"""API latency and throughput: `GET /v1/jobs/{id}` and `POST /v1/jobs` (a small MLP spec)
at 50 concurrent clients, beside `GET /healthz` on the same server as the floor.

    .venv/bin/python bench/api.py [--seconds 10] [--concurrency 50] [--processes 1]

Creates a fresh PostgreSQL database (TRAINFORGE_BENCH_POSTGRES_URL, default
postgres@127.0.0.1), migrates it, starts `uvicorn app.main:create_app` in a subprocess on
127.0.0.1, creates a team, a key and a small dataset, measures, then stops the server and
drops the database. Targets: job read p99 < 50 ms, submit p99 < 100 ms.

Per request it also reports the CPU time of the server processes and of the local
PostgreSQL server (all its processes: other load on the same server counts too; 0 for
a remote one). Client, server and database share the machine's CPUs.

`--processes N` starts N such servers on N ports and spreads the client connections
over them (as a load balancer in front of one process per core would). Not uvicorn's
`--workers`: its worker sockets lack TCP_NODELAY (created without IPPROTO_TCP, so asyncio
skips it), which adds a 40 ms delayed-ACK stall to every response.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import migrate  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import Database  # noqa: E402
from app.services import teams  # noqa: E402
from bench.http_load import closed_loop, prepare  # noqa: E402
from bench.scratch import create_database, drop_database, free_port  # noqa: E402

TARGETS_MS = {"GET /v1/jobs/{id}": 50.0, "POST /v1/jobs": 100.0}


@dataclass
class Result:
    name: str
    latencies_ms: list[float]
    seconds: float
    errors: int
    server_cpu_s: float
    database_cpu_s: float

    def row(self) -> str:
        lat = np.array(self.latencies_ms)
        p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
        target = TARGETS_MS.get(self.name)
        verdict = "" if target is None else ("ok" if p99 < target else "missed")
        goal = "floor" if target is None else f"< {target:.0f}"
        cpu_ms = self.server_cpu_s * 1000 / max(len(lat), 1)
        db_ms = self.database_cpu_s * 1000 / max(len(lat), 1)
        return (f"| {self.name:<18} | {len(lat):>8} | {len(lat) / self.seconds:>7.0f} | "
                f"{p50:>7.1f} | {p99:>7.1f} | {goal:>5} {verdict:<6} | {cpu_ms:>11.2f} | "
                f"{db_ms:>11.2f} | {self.errors:>6} |")


HEADER = ("| scenario           | requests |   req/s | p50 ms  | p99 ms  | p99 target   | "
          "server CPU  | DB CPU      | errors |\n"
          "|                    |          |         |         |         |              | "
          "ms/request  | ms/request  |        |\n"
          "|--------------------|---------:|--------:|--------:|--------:|--------------|"
          "------------:|------------:|-------:|")


def server_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the server processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def database_cpu_seconds() -> float:
    """User + system CPU of every process of the local `postgres` user (the database
    server, all its backends and background writers); 0 when there is none here."""
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != uid:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"TRAINFORGE_DATABASE_URL": url, "TRAINFORGE_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the server did not become ready")


def setup_data(base: str, key: str) -> tuple[dict[str, str], dict, str]:
    headers = {"Authorization": f"Bearer {key}"}
    rng = np.random.default_rng(0)
    dataset = httpx.post(f"{base}/v1/datasets", headers=headers, timeout=30, json={
        "name": "bench", "inputs": rng.normal(size=(256, 16)).round(3).tolist(),
        "targets": rng.integers(0, 4, size=256).tolist()})
    dataset.raise_for_status()
    spec = {"dataset_id": dataset.json()["id"], "name": "bench-mlp",
            "model": {"layers": [
                {"type": "Linear", "in_features": 16, "out_features": 64}, {"type": "ReLU"},
                {"type": "Linear", "in_features": 64, "out_features": 64}, {"type": "ReLU"},
                {"type": "Linear", "in_features": 64, "out_features": 4}]},
            "loss": {"type": "CrossEntropyLoss"}, "optimizer": {"type": "Adam", "lr": 1e-3},
            "epochs": 5, "batch_size": 32, "metrics": ["accuracy"]}
    job = httpx.post(f"{base}/v1/jobs", headers=headers, json=spec, timeout=30)
    job.raise_for_status()
    return headers, spec, job.json()["id"]


async def measure(name: str, raw: bytes, ports: list[int], concurrency: int, seconds: float,
                  server_pids: list[int]) -> Result:
    before: list[float] = []

    def snapshot() -> None:
        before.extend((server_cpu_seconds(server_pids), database_cpu_seconds()))

    load = await closed_loop(raw, ports, concurrency, seconds, min(2.0, seconds / 4),
                             on_start=snapshot)
    return Result(name, load.latencies_ms, load.seconds, load.errors,
                  server_cpu_seconds(server_pids) - before[0],
                  database_cpu_seconds() - before[1])


async def run_all(ports: list[int], server_pids: list[int], headers: dict[str, str],
                  spec: dict, job_id: str, concurrency: int, seconds: float) -> list[Result]:
    scenarios = [
        ("GET /healthz", prepare("GET", "/healthz", {})),
        ("GET /v1/jobs/{id}", prepare("GET", f"/v1/jobs/{job_id}", headers)),
        ("POST /v1/jobs", prepare("POST", "/v1/jobs", headers, spec)),
    ]
    return [await measure(name, raw, ports, concurrency, seconds, server_pids)
            for name, raw in scenarios]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1,
                        help="server processes (one uvicorn each, on its own port)")
    args = parser.parse_args()
    name = f"trainforge_bench_{os.getpid()}"
    url = create_database(name)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        migrate.upgrade(url)
        db = Database.from_settings(Settings(database_url=url))
        with db.session() as session:
            _, key = teams.create_team(session, "bench")
        db.dispose()
        ports = [free_port() for _ in range(args.processes)]
        servers = [start_server(url, port) for port in ports]
        headers, spec, job_id = setup_data(f"http://127.0.0.1:{ports[0]}", key.secret)
        results = asyncio.run(run_all(ports, [s.pid for s in servers], headers, spec, job_id,
                                      args.concurrency, args.seconds))
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
        drop_database(name)
    load = os.getloadavg()[0]
    print(f"\nPostgreSQL, {args.processes} uvicorn process(es), {args.concurrency} concurrent "
          f"clients, {args.seconds:.0f} s per scenario, {os.cpu_count()} CPUs shared by "
          f"client, server and database (load average {load:.1f} after the run)\n")
    print(HEADER)
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
