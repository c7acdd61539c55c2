"""Waking idle workers: NOTIFY when a job becomes claimable, LISTEN (or poll) to wait.

On PostgreSQL every transaction that queues a job (submit, release, reaper) sends
`NOTIFY trainforge_jobs`; PostgreSQL delivers it at commit, so a listening worker wakes
exactly when the job is visible. A worker waits on its own autocommit connection with
`LISTEN`, up to the poll interval: a lost notification (e.g. the listener reconnecting)
only costs one poll. SQLite has no notifications; its workers poll.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

CHANNEL = "trainforge_jobs"
log = logging.getLogger("trainforge.worker")


def notify_queued(session: Session) -> None:
    """Inside a write transaction that makes a job claimable: wake listening workers
    when it commits (PostgreSQL; nothing on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Waiter:
    """`wait(timeout)` returns when a job may have been queued, at the latest after
    `timeout` seconds, or at once when `stop` is set."""

    def __init__(self, database_url: str, stop: threading.Event) -> None:
        self.stop = stop
        url = make_url(database_url)
        self._dsn = (url.set(drivername="postgresql")
                     .render_as_string(hide_password=False)
                     if url.get_backend_name() == "postgresql" else None)
        self._conn: psycopg.Connection | None = None

    @property
    def listens(self) -> bool:
        return self._dsn is not None

    def _connect(self) -> psycopg.Connection | None:
        if self._conn is None and self._dsn is not None:
            try:
                self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
                self._conn.execute(f"LISTEN {CHANNEL}")
            except psycopg.Error as exc:
                log.warning("LISTEN unavailable, polling instead: %s", exc)
                self._conn = None
        return self._conn

    def wait(self, timeout: float) -> None:
        conn = self._connect()
        if conn is None:
            self.stop.wait(timeout)
            return
        try:
            # Short slices so that a stop request is seen within 0.1 s.
            remaining = timeout
            while remaining > 0 and not self.stop.is_set():
                slice_s = min(remaining, 0.1)
                for _ in conn.notifies(timeout=slice_s, stop_after=1):
                    return
                remaining -= slice_s
        except psycopg.Error as exc:
            log.warning("LISTEN connection lost (%s); reconnecting", exc)
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
