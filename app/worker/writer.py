"""A background writer: the training thread hands it metric batches and checkpoints and
goes on training while they commit.

Writes run one at a time, in the order they were handed over, on the writer's own
session, and each is fenced by the lease like any worker write. The first error (a
lost lease above all) is kept and raised on the training thread by `check()` or
`drain()`; after it nothing more is written. At most `depth` writes wait, so a slow
database slows training rather than growing memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from app.db import Database

Write = Callable[[Session], None]
_STOP = object()


class BackgroundWriter:
    """`with BackgroundWriter(db) as writer: writer.submit(fn)`; `fn(session)` runs on
    the writer's thread. `drain()` waits for every write handed over so far."""

    def __init__(self, db: Database, depth: int = 2) -> None:
        self.db = db
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._failed = False  # a write failed: the rest are skipped
        self._thread = threading.Thread(target=self._run, name="checkpoint-writer",
                                        daemon=True)

    def submit(self, write: Write) -> None:
        self.check()
        self._queue.put(write)  # blocks while `depth` writes wait

    def check(self) -> None:
        """Raise the error of a failed write, if any (once; later writes are skipped)."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def drain(self) -> None:
        """Wait until every write handed over has committed; raise the first error."""
        self._queue.join()
        self.check()

    def _run(self) -> None:
        session = self.db.session()
        try:
            while True:
                item = self._queue.get()
                try:
                    if item is _STOP:
                        return
                    if self._error is None and not self._failed:
                        item(session)  # type: ignore[operator]
                except BaseException as exc:  # noqa: BLE001 - handed to the training thread
                    session.rollback()
                    self._error, self._failed = exc, True
                finally:
                    self._queue.task_done()
        finally:
            session.close()

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(_STOP)
        self._thread.join()
