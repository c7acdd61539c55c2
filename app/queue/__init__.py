"""The job queue: worker registration, claims, leases, fenced writes and the reaper.

Queue SQL lives in `app.queue.sql`; the operations in `app.queue.lease`.
"""

from app.queue.lease import (
    DEFAULT_LEASE_S,
    DEFAULT_MAX_ATTEMPTS,
    ClaimedJob,
    LeaseLost,
    LeaseState,
    ReapCounts,
    claim,
    fenced,
    finish,
    reap,
    register_worker,
    release,
    renew_lease,
    worker_heartbeat,
    write_metrics,
)

__all__ = [
    "DEFAULT_LEASE_S", "DEFAULT_MAX_ATTEMPTS", "ClaimedJob", "LeaseLost", "LeaseState",
    "ReapCounts", "claim", "fenced", "finish", "reap", "register_worker", "release",
    "renew_lease", "worker_heartbeat", "write_metrics",
]
