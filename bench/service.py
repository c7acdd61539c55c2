"""Service overhead: training throughput through a real worker against the same loop run
in-process, submit-to-running latency with an idle worker, and job-read latency while a
job trains, side by side in one run on this machine.

    .venv/bin/python bench/service.py [--quick] [--repeats N] [--submissions N]
                                      [--seconds S] [--concurrency N]

1. Throughput. One uvicorn server (`app.main:create_app`) and one
   `python -m app.cli worker --device cpu` process on a fresh PostgreSQL database
   (TRAINFORGE_BENCH_POSTGRES_URL, default postgres@127.0.0.1). Datasets are uploaded as
   .npz; each job is POSTed to /v1/jobs and polled until it ends. Beside each job the same
   training runs directly in this process (same layers, Adam, batch size, epochs, seed, a
   `Generator` reseeded with seed + epoch per epoch, as the worker does); the two alternate,
   `--repeats` times, and medians are compared. Four measures, samples/s:
     - end-to-end: epochs * rows / (finished_at - started_at); direct: model build, input
       tensors and the whole loop;
     - training: epochs 2..E only: from the `checkpoint_saved` event after epoch 1 to
       finished_at (so it includes the worker's per-epoch checkpoints, metric writes and
       the final transaction, but not the job's start); direct: from the end of epoch 1
       to the end of the loop;
     - step: rows / sum of per-step times, from the `samples_per_second` metric (the worker
       times zero_grad + forward + loss.item() + backward + optimizer.step of each step);
       direct: the same span timed the same way;
     - cpu: rows * epochs / CPU seconds (user + system, all threads) of the worker process
       from submission to the job's end (setup, checkpoints and its heartbeat thread
       included; PostgreSQL's own CPU not); direct: this process's CPU time over the run.
       Wall-clock rates suffer from whatever else the machine runs; CPU time much less.
   The verdict (target service/direct >= 0.95) is on `training`.
2. Submit-to-running latency: a tiny job (XOR, one step) POSTed one at a time with the
   worker idle; latency = the job's `started_at` (set by the worker's claim) minus the
   wall-clock time when the POST returned (same machine, same clock). PostgreSQL (workers
   wake by LISTEN/NOTIFY; target p50 < 100 ms) and SQLite in a temp file (migrated with
   `python -m app.cli migrate`; workers poll every 0.5 s; target p50 < 1 s). A random
   pause (0.1 s + up to one poll interval) before each submission samples the poll phase.
   Negative: the worker claimed the job before the API's response reached the client
   (the NOTIFY is delivered at the submit's commit); also shown from the POST's start.
3. `GET /v1/jobs/{id}` latency at `--concurrency` keep-alive clients for `--seconds`, with
   the worker idle and then while it trains a 784-512-512-10 job (batch 32) on the same
   2 CPUs (the job is cancelled afterwards). Beside it, the job's training rate over
   the reads and over as long a window without them, from its `progress.step`.

Everything started here (servers, workers, databases, temp files) is stopped or removed
in `finally` blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import Database  # noqa: E402
from app.services import teams  # noqa: E402
from bench.http_load import closed_loop, prepare  # noqa: E402
from bench.scratch import create_database, drop_database, free_port  # noqa: E402
from engine.utils.data import DataLoader, TensorDataset  # noqa: E402

SEED = 0
TERMINAL = {"succeeded", "failed", "cancelled"}
POLL_S = 0.5  # the SQLite workers' poll interval (the setting's default)


# --- processes and databases --------------------------------------------------------------

def service_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINFORGE_")}
    return env | {"TRAINFORGE_DATABASE_URL": url, "TRAINFORGE_LOG_LEVEL": "warning",
                  "TRAINFORGE_POLL_SECONDS": str(POLL_S)}


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float = 20.0) -> None:
    """SIGTERM (a worker checkpoints and releases its job), then SIGKILL after a while."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Stack:
    """One API server and one CPU worker on one database, with a client and a team key."""

    url: str
    base: str
    client: httpx.Client
    headers: dict[str, str]
    worker_log: Path
    server_pid: int
    worker_pid: int


@contextmanager
def stack(url: str, workdir: Path, label: str) -> Iterator[Stack]:
    env = service_env(url)
    server = worker = None
    client = None
    log = workdir / f"worker-{label}.log"
    try:
        subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        db = Database.from_settings(Settings(database_url=url))
        try:
            with db.session() as session:
                _, key = teams.create_team(session, f"bench-{label}")
        finally:
            db.dispose()
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log"], cwd=ROOT, env=env)
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker", "--device", "cpu",
                 "--name", f"bench-{label}"], cwd=ROOT,
                env=env | {"TRAINFORGE_LOG_LEVEL": "info"}, stdout=out,  # logs its start
                stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the {label} server did not become ready")
            time.sleep(0.1)
        while b"worker " not in log.read_bytes():  # registered ("worker <id> on cpu ...")
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the {label} worker did not start:\n"
                                   f"{log.read_text()[-2000:]}")
            time.sleep(0.1)
        client = httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": f"Bearer {key.secret}"})
        yield Stack(url, base, client, dict(client.headers), log, server.pid, worker.pid)
    finally:
        if client is not None:
            client.close()
        stop_process(worker)
        stop_process(server)


# --- the API ------------------------------------------------------------------------------

def upload(st: Stack, name: str, x: np.ndarray, y: np.ndarray) -> str:
    buf = io.BytesIO()
    np.savez(buf, inputs=x, targets=y)
    response = st.client.post("/v1/datasets/upload/numpy", data={"name": name},
                              files={"file": ("data.npz", buf.getvalue())})
    response.raise_for_status()
    return response.json()["id"]


def mlp_spec(dataset_id: str, sizes: list[int], batch: int, epochs: int,
             lr: float = 1e-3) -> dict:
    layers: list[dict] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append({"type": "Linear", "in_features": a, "out_features": b})
        if i < len(sizes) - 2:
            layers.append({"type": "ReLU"})
    return {"dataset_id": dataset_id, "model": {"layers": layers},
            "loss": {"type": "CrossEntropyLoss"}, "optimizer": {"type": "Adam", "lr": lr},
            "epochs": epochs, "batch_size": batch, "seed": SEED, "shuffle": True,
            "device": "cpu"}


def submit(st: Stack, spec: dict) -> str:
    response = st.client.post("/v1/jobs", json=spec)
    if response.status_code != 201:
        raise RuntimeError(f"submit: {response.status_code} {response.text[:500]}")
    return response.json()["id"]


def get_json(st: Stack, path: str, **params: object) -> dict:
    response = st.client.get(path, params=params)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:500]}")
    return response.json()


def wait_done(st: Stack, job_id: str, timeout_s: float = 600, poll_s: float = 0.05) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = get_json(st, f"/v1/jobs/{job_id}")
        if job["status"] in TERMINAL:
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}\n"
                                   f"{st.worker_log.read_text()[-3000:]}")
            return job
        time.sleep(poll_s)
    raise RuntimeError(f"job {job_id} did not finish in {timeout_s} s")


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --- (1) throughput -----------------------------------------------------------------------

@dataclass
class Case:
    name: str
    sizes: list[int]
    x: np.ndarray
    y: np.ndarray
    batch: int
    epochs: int
    dataset_id: str = ""

    def batch_sizes(self) -> list[int]:
        """Rows of each step of one epoch."""
        n, b = len(self.x), self.batch
        return [min(b, n - i) for i in range(0, n, b)]


@dataclass
class Rates:
    """samples/s of one run, by measure."""

    end_to_end: float
    training: float
    step: float
    cpu: float


MEASURES = ("end_to_end", "training", "step", "cpu")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_direct(case: Case) -> Rates:
    """The worker's loop, as user code would write it with engine."""
    begin, cpu = time.perf_counter(), time.process_time()
    engine.manual_seed(SEED)
    layers: list = []
    for i, (a, b) in enumerate(zip(case.sizes[:-1], case.sizes[1:])):
        layers.append(engine.nn.Linear(a, b))
        if i < len(case.sizes) - 2:
            layers.append(engine.nn.ReLU())
    model = engine.nn.Sequential(*layers)
    optimizer = engine.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = engine.nn.CrossEntropyLoss()
    x_all = engine.from_numpy(np.ascontiguousarray(case.x, dtype=np.float32))
    y_all = engine.from_numpy(np.ascontiguousarray(case.y, dtype=np.int64))
    generator = engine.Generator()
    step_time = 0.0
    epoch_ends = [time.perf_counter()]
    model.train()
    for epoch in range(case.epochs):
        generator.manual_seed(SEED + epoch)
        loader = DataLoader(TensorDataset(x_all, y_all), batch_size=case.batch,
                            shuffle=True, generator=generator)
        for xb, yb in loader:
            started = time.perf_counter()
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.item()
            loss.backward()
            optimizer.step()
            step_time += time.perf_counter() - started
        epoch_ends.append(time.perf_counter())
    cpu = time.process_time() - cpu
    rows = len(case.x)
    total = rows * case.epochs
    return Rates(end_to_end=total / (epoch_ends[-1] - begin),
                 training=rows * (case.epochs - 1) / (epoch_ends[-1] - epoch_ends[1]),
                 step=total / step_time, cpu=total / cpu)


def run_service(st: Stack, case: Case) -> Rates:
    cpu = cpu_seconds(st.worker_pid)
    job_id = submit(st, mlp_spec(case.dataset_id, case.sizes, case.batch, case.epochs))
    job = wait_done(st, job_id, poll_s=0.2)
    cpu = cpu_seconds(st.worker_pid) - cpu
    started, finished = ts(job["started_at"]), ts(job["finished_at"])
    events = get_json(st, f"/v1/jobs/{job_id}/events", limit=100)
    after_first = [e for e in events["items"] if e["type"] == "checkpoint_saved"
                   and e["payload"].get("training_epoch") == 1]
    if not after_first:
        raise RuntimeError(f"no checkpoint after epoch 1: {events}")
    metrics = get_json(st, f"/v1/jobs/{job_id}/metrics", name="samples_per_second",
                       max_points=10_000)
    series = metrics["series"][0]
    if series["downsampled"]:
        raise RuntimeError("samples_per_second was downsampled")
    per_epoch = case.batch_sizes()
    step_time, rows_seen = 0.0, 0
    for point in series["points"]:
        size = per_epoch[(point["step"] - 1) % len(per_epoch)]
        step_time += size / point["value"]
        rows_seen += size
    rows = len(case.x)
    if rows_seen != rows * case.epochs:
        raise RuntimeError(f"{rows_seen} rows in the metric, {rows * case.epochs} trained")
    return Rates(end_to_end=rows * case.epochs / (finished - started),
                 training=rows * (case.epochs - 1) / (finished - ts(after_first[0]["created_at"])),
                 step=rows_seen / step_time, cpu=rows_seen / cpu)


def throughput(st: Stack, cases: list[Case], repeats: int) -> list[tuple[Case, dict]]:
    results = []
    for case in cases:
        case.dataset_id = upload(st, case.name.split()[0][:60], case.x, case.y)
        direct: list[Rates] = []
        service: list[Rates] = []
        run_direct(case)  # warm-up: imports, allocator
        for r in range(repeats):  # alternate, starting with each side in turn
            for side in ("direct", "service") if r % 2 == 0 else ("service", "direct"):
                if side == "direct":
                    direct.append(run_direct(case))
                else:
                    service.append(run_service(st, case))
        summary = {m: (float(np.median([getattr(d, m) for d in direct])),
                       float(np.median([getattr(s, m) for s in service])))
                   for m in MEASURES}
        results.append((case, summary))
        print(f"  {case.name}: " + ", ".join(
            f"{m} {s / d:.3f}" for m, (d, s) in summary.items()), flush=True)
    return results


# --- (2) submit-to-running latency --------------------------------------------------------

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.int64)


@dataclass
class Latency:
    label: str
    start_ms: list[float] = field(default_factory=list)  # from the POST's return
    sent_ms: list[float] = field(default_factory=list)  # from the POST's start
    post_ms: list[float] = field(default_factory=list)


def submit_latency(st: Stack, label: str, submissions: int, warmup: int = 2) -> Latency:
    dataset_id = upload(st, "xor", XOR_X, XOR_Y)
    spec = mlp_spec(dataset_id, [2, 8, 2], batch=4, epochs=1, lr=0.01)
    rng = random.Random(SEED)
    out = Latency(label)
    for i in range(warmup + submissions):
        time.sleep(0.1 + rng.uniform(0, POLL_S))  # the worker is idle, at a random poll phase
        sent_wall, sent = time.time(), time.perf_counter()
        response = st.client.post("/v1/jobs", json=spec)
        returned_wall, returned = time.time(), time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"submit: {response.status_code} {response.text[:500]}")
        job = wait_done(st, response.json()["id"], poll_s=0.05)
        if i >= warmup:
            out.start_ms.append((ts(job["started_at"]) - returned_wall) * 1000)
            out.sent_ms.append((ts(job["started_at"]) - sent_wall) * 1000)
            out.post_ms.append((returned - sent) * 1000)
    return out


# --- (3) job reads while a job trains -----------------------------------------------------

async def read_load(port: int, raw: bytes, concurrency: int, seconds: float
                    ) -> tuple[list[float], int, float]:
    load = await closed_loop(raw, [port], concurrency, seconds, min(1.0, seconds / 4))
    return load.latencies_ms, load.errors, load.seconds


@dataclass
class ReadResult:
    label: str
    latencies_ms: list[float]
    errors: int
    seconds: float
    note: str = ""


def training_rate(st: Stack, job_id: str, batch: int, during) -> float:  # noqa: ANN001
    """samples/s of a running job while `during()` runs, from its `progress.step` (the
    worker publishes it at least every 100 steps (metric flushes) and every heartbeat)."""
    job = get_json(st, f"/v1/jobs/{job_id}")
    step, begin = job["progress"]["step"], time.perf_counter()
    during()
    job = get_json(st, f"/v1/jobs/{job_id}")
    return (job["progress"]["step"] - step) * batch / (time.perf_counter() - begin)


def job_reads(st: Stack, case: Case, concurrency: int, seconds: float) -> list[ReadResult]:
    port = int(st.base.rsplit(":", 1)[1])
    # Worker idle: read the latest (finished) job; then read the training job.
    done = get_json(st, "/v1/jobs", limit=1)["items"][0]["id"]
    auth = {k: v for k, v in st.headers.items() if k.lower() == "authorization"}

    def raw(job_id: str) -> bytes:
        return prepare("GET", f"/v1/jobs/{job_id}", auth)

    results = []
    lat, errors, took = asyncio.run(read_load(port, raw(done), concurrency, seconds))
    results.append(ReadResult("worker idle", lat, errors, took))
    spec = mlp_spec(case.dataset_id, case.sizes, case.batch, epochs=1000)
    job_id = submit(st, spec)
    try:
        deadline = time.monotonic() + 60
        while True:  # running and past its first heartbeat's progress
            job = get_json(st, f"/v1/jobs/{job_id}")
            if job["status"] == "running" and job["progress"]["samples_per_second"]:
                break
            if time.monotonic() > deadline or job["status"] in TERMINAL:
                raise RuntimeError(f"the training job did not start: {job['status']}")
            time.sleep(0.2)
        quiet = training_rate(st, job_id, case.batch, lambda: time.sleep(seconds))
        rate: list[float] = []
        loaded = training_rate(st, job_id, case.batch, lambda: rate.append(
            asyncio.run(read_load(port, raw(job_id), concurrency, seconds))))
        lat, errors, took = rate[0]
        results.append(ReadResult(
            f"worker training {case.sizes[0]}-512-512-10 b={case.batch}", lat, errors, took,
            f"the job trained {loaded:,.0f} samples/s during the reads, {quiet:,.0f} in "
            f"{seconds:.0f} s without"))
    finally:
        st.client.post(f"/v1/jobs/{job_id}/cancel")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if get_json(st, f"/v1/jobs/{job_id}")["status"] in TERMINAL:
                break
            time.sleep(0.2)
    return results


# --- report -------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def report(thr: list[tuple[Case, dict]], lats: list[Latency], reads: list[ReadResult],
           args: argparse.Namespace) -> str:
    lines = [f"{os.cpu_count()} CPUs shared by client, server, worker and database; "
             f"`uptime` after the run: {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}, "
             f"{os.getloadavg()[2]:.2f}; medians of {args.repeats} alternating runs",
             "",
             "| case | measure | direct samples/s | service samples/s | service/direct | "
             "target |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for case, summary in thr:
        for m, (d, s) in summary.items():
            ratio = s / d
            target = (f">= 0.95 {'met' if ratio >= 0.95 else 'missed'}" if m == "training"
                      else "")
            lines.append(f"| {case.name} | {m.replace('_', '-')} | {d:,.0f} | {s:,.0f} | "
                         f"{ratio:.3f} | {target} |")
    lines += ["", "| database | worker wake-up | submissions | p50 | p99 | max | "
              "p50 from POST sent | POST round trip p50 | target (p50) |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for lat in lats:
        goal = 100.0 if lat.label == "PostgreSQL" else 1000.0
        p50 = pct(lat.start_ms, 50)
        wake = "LISTEN/NOTIFY" if lat.label == "PostgreSQL" else f"poll {POLL_S} s"
        lines.append(f"| {lat.label} | {wake} | {len(lat.start_ms)} | {p50:.1f} ms | "
                     f"{pct(lat.start_ms, 99):.1f} ms | {max(lat.start_ms):.1f} ms | "
                     f"{pct(lat.sent_ms, 50):.1f} ms | "
                     f"{pct(lat.post_ms, 50):.1f} ms | < {goal:.0f} ms "
                     f"{'met' if p50 < goal else 'missed'} |")
    lines += ["", f"| GET /v1/jobs/{{id}}, {args.concurrency} clients | requests | req/s | "
              "p50 | p99 | errors | note |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in reads:
        lines.append(f"| {r.label} | {len(r.latencies_ms)} | "
                     f"{len(r.latencies_ms) / r.seconds:.0f} | {pct(r.latencies_ms, 50):.1f} ms | "
                     f"{pct(r.latencies_ms, 99):.1f} ms | {r.errors} | {r.note} |")
    return "\n".join(lines)


def make_cases(quick: bool) -> list[Case]:
    digits = np.load(ROOT / "tests" / "data" / "digits.npz")
    dx = (digits["images"].reshape(len(digits["images"]), 64) / 16).astype(np.float32)
    dy = digits["target"].astype(np.int64)
    rng = np.random.default_rng(SEED)
    rows = 4096 if quick else 8192
    bx = rng.normal(size=(rows, 784)).astype(np.float32)
    by = rng.integers(0, 10, size=rows).astype(np.int64)
    return [
        Case(f"digits 64-128-10 b=32, {len(dx)}x20 epochs", [64, 128, 10], dx, dy, 32, 20),
        Case(f"MLP 784-512-512-10 b=256, {rows}x4 epochs", [784, 512, 512, 10], bx, by,
             256, 4),
        Case("MLP 784-512-512-10 b=32, 4096x2 epochs", [784, 512, 512, 10], bx[:4096],
             by[:4096], 32, 2),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat, 10 submissions, 3 s of reads, 4096 synthetic rows at b=256")
    parser.add_argument("--repeats", type=int, default=None, help="runs per side (default 3)")
    parser.add_argument("--submissions", type=int, default=None, help="default 30")
    parser.add_argument("--seconds", type=float, default=None, help="of reads (default 10)")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.submissions = args.submissions or (10 if args.quick else 30)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    cases = make_cases(args.quick)
    workdir = Path(tempfile.mkdtemp(prefix="trainforge_bench_service_"))
    pg_name = f"trainforge_bench_service_{os.getpid()}"
    began = time.monotonic()
    try:
        pg_url = create_database(pg_name)
        print("(1) throughput, PostgreSQL", flush=True)
        with stack(pg_url, workdir, "pg") as st:
            thr = throughput(st, cases, args.repeats)
            print("(2) submit-to-running latency, PostgreSQL", flush=True)
            lats = [submit_latency(st, "PostgreSQL", args.submissions)]
            print("(3) job reads", flush=True)
            reads = job_reads(st, cases[-1], args.concurrency, args.seconds)
        print("(2) submit-to-running latency, SQLite", flush=True)
        with stack(f"sqlite:///{workdir / 'bench.db'}", workdir, "sqlite") as st:
            lats.append(submit_latency(st, "SQLite", args.submissions))
    finally:
        try:
            drop_database(pg_name)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nservice.py{' --quick' if args.quick else ''}, "
          f"{time.monotonic() - began:.0f} s, {datetime.now().astimezone():%Y-%m-%d %H:%M}\n")
    print(report(thr, lats, reads, args))


if __name__ == "__main__":
    main()
