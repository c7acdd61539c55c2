"""A background reaper: returns jobs with expired leases to the queue (or fails them
after `max_attempts`). The API runs one, and so does every worker: any of them is
enough, and several are safe (expired rows are taken with SKIP LOCKED)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from app.db import Database
from app.queue.lease import reap

log = logging.getLogger("trainforge.reaper")


class Reaper(threading.Thread):
    """`Reaper(db, interval_s, max_attempts).start()`; `stop()` ends it."""

    def __init__(self, db: Database, interval_s: float, max_attempts: int) -> None:
        super().__init__(name="trainforge-reaper", daemon=True)
        self.db, self.interval_s, self.max_attempts = db, interval_s, max_attempts
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            self.reap_once()

    def reap_once(self) -> int:
        session = self.db.session()
        try:
            counts = reap(session, self.max_attempts)
        except SQLAlchemyError as exc:  # the database is down: try again next interval
            log.warning("reaper: %s", exc)
            return 0
        finally:
            session.close()
        if counts.total:
            log.info("reaper: %d re-queued, %d failed, %d cancelled", counts.requeued,
                     counts.failed, counts.cancelled)
        return counts.total

    def stop(self) -> None:
        self._stop_event.set()
