"""What the client commands share: running a handler with a `Client` (every failure one
line on stderr) and the output helpers (JSON, tables, times, shapes)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from app.client import ApiError, Client

EXIT_ERROR = 1
EXIT_JOB_NOT_SUCCEEDED = 1
Handler = Callable[[argparse.Namespace, Client], int]


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _on(parser: argparse.ArgumentParser, handler: Handler) -> None:
    parser.set_defaults(handler=_wrapped(handler), api_client=True)


def _wrapped(handler: Handler) -> Callable[[argparse.Namespace, object], int]:
    """Run `handler` with a client; every failure is one line on stderr."""

    def run(args: argparse.Namespace, _settings: object) -> int:
        try:
            with Client() as client:
                return handler(args, client)
        except ApiError as exc:
            hint = ("; set TRAINFORGE_API_KEY to a team's key" if exc.status == 401
                    and not os.environ.get("TRAINFORGE_API_KEY") else "")
            _error(exc.message + hint, exc.code)
        except BrokenPipeError:  # `trainforge ... | head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_ERROR
        except (ValueError, OSError) as exc:
            _error(str(exc), "bad_argument" if isinstance(exc, ValueError) else "io_error")
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 130
        except Exception as exc:  # never a traceback for a user
            if os.environ.get("TRAINFORGE_DEBUG"):
                raise
            _error(f"{type(exc).__name__}: {exc}", "internal")
        return EXIT_ERROR

    return run


def _error(message: str, code: str) -> None:
    line = " ".join(message.split())  # one line, whatever the message holds
    print(f"error: {line} ({code})", file=sys.stderr)


# --- output helpers --------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A response dataclass as JSON-ready data (the API's own JSON where kept)."""
    raw = getattr(value, "raw", None)
    if isinstance(raw, dict) and raw:
        return raw
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in ("raw", "client")}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(_plain(value), indent=2, default=str))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape) or "scalar"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}:" if hours else "") + f"{rest // 60:02d}:{rest % 60:02d}"


def _labels(items: Sequence[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--label expects key=value, not {item!r}")
        labels[key] = value
    return labels
