"""One `trainforge worker --device cuda:K` per GPU visible in this container.

Docker gives every replica of a service with a `count: N` GPU reservation the same first
N GPUs, so `docker compose up --scale worker=N` cannot spread workers over GPUs. Instead
the `worker` service reserves the host's GPUs (or those in `device_ids`) and this
launcher starts one worker process per GPU, named `<hostname>-gpuK`.

Environment:
    TRAINFORGE_WORKERS_PER_GPU   concurrent jobs per GPU (`--concurrency`, default 1)
    TRAINFORGE_GPU_COUNT         number of GPUs to use (default: all visible ones)

SIGTERM/SIGINT are passed to every worker (each checkpoints its job, puts it back in the
queue and exits); the launcher exits when they have. When one worker exits on its own,
the others are stopped the same way and the launcher exits with that worker's status,
so the container's restart policy starts them all again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

COUNT_GPUS = "import cupy; print(cupy.cuda.runtime.getDeviceCount())"


def gpu_count() -> int:
    if os.environ.get("TRAINFORGE_GPU_COUNT"):
        return int(os.environ["TRAINFORGE_GPU_COUNT"])
    # In a child process, so that this one never initializes CUDA.
    out = subprocess.run([sys.executable, "-c", COUNT_GPUS], check=True,
                         capture_output=True, text=True, timeout=120)
    return int(out.stdout.strip())


def main() -> int:
    count = gpu_count()
    if count < 1:
        print("gpu_workers: no GPU visible in this container", file=sys.stderr)
        return 1
    per_gpu = os.environ.get("TRAINFORGE_WORKERS_PER_GPU", "1")
    host = socket.gethostname()
    procs = [subprocess.Popen(["trainforge", "worker", "--device", f"cuda:{k}",
                               "--concurrency", per_gpu, "--name", f"{host}-gpu{k}"])
             for k in range(count)]
    print(f"gpu_workers: {count} GPU(s), {per_gpu} worker process(es) each", flush=True)
    stopping = False

    def stop(signum: int, _frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while any(proc.poll() is None for proc in procs):
        exited = [proc for proc in procs if proc.poll() is not None]
        if exited and not stopping:
            status = next((p.returncode for p in exited if p.returncode), 0) or 1
            print("gpu_workers: a worker exited; stopping the others", file=sys.stderr)
            stop(signal.SIGTERM)
        time.sleep(0.5)
    if not stopping:
        status = max(proc.returncode for proc in procs) or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
