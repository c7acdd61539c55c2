"""The progress bar of `trainforge jobs submit --wait`."""

from __future__ import annotations

import time
from typing import IO

from app.cli_client.common import _duration
from app.client import JobProgress


class ProgressBar:
    """A one-line progress display: redrawn in place with \\r on a terminal, plain lines
    (at most one every `interval` seconds, and the last) otherwise."""

    WIDTH = 24

    def __init__(self, stream: IO[str], *, tty: bool | None = None,
                 interval: float = 2.0) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval
        self.last_line, self.last_print, self.drawn = "", 0.0, 0

    @staticmethod
    def render(p: JobProgress, width: int = WIDTH) -> str:
        filled = int(width * min(max(p.percent, 0.0), 100.0) / 100.0)
        bar = "#" * filled + "." * (width - filled)
        total = p.total_steps if p.total_steps is not None else "?"
        loss = f"{p.loss:.4f}" if p.loss is not None else "-"
        eta = "" if p.status in ("succeeded", "failed", "cancelled") else (
            f"  ETA {_duration(p.eta_seconds)}")
        return (f"[{bar}] {p.percent:5.1f}%  epoch {p.epoch}  step {p.step}/{total}  "
                f"loss {loss}{eta}  {p.status}")

    def update(self, progress: JobProgress) -> None:
        line = self.render(progress)
        if line == self.last_line:
            return
        final = progress.status in ("succeeded", "failed", "cancelled")
        if self.tty:
            pad = max(0, self.drawn - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.drawn = len(line)
        else:
            now = time.monotonic()
            if not final and now - self.last_print < self.interval and self.last_line:
                return
            self.last_print = now
            self.stream.write(line + "\n")
        self.last_line = line
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = 0
