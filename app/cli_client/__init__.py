"""The client side of the `trainforge` command line: `datasets`, `jobs` and `keys`, which
talk to a running API through `app.client` (configured by `TRAINFORGE_URL`, default
http://127.0.0.1:8000, and `TRAINFORGE_API_KEY`).

Output is for humans; `--json` on list/show commands prints JSON. Any error is one line
on stderr, `error: <message> (<code>)`, and a non-zero exit status (never a traceback;
set TRAINFORGE_DEBUG=1 to see one for an unexpected error).

The commands live by group: `datasets`, `jobs` and `keys` (each with its `register`),
sharing `common` (the error handling and output helpers); `progress` draws the bar of
`jobs submit --wait`, `plot` the PNG of `jobs metrics --plot`.
"""

from __future__ import annotations

from typing import Any

from app.cli_client import datasets, jobs, keys
from app.cli_client.common import EXIT_ERROR, EXIT_JOB_NOT_SUCCEEDED, Handler
from app.cli_client.plot import plot_metrics
from app.cli_client.progress import ProgressBar

__all__ = ["EXIT_ERROR", "EXIT_JOB_NOT_SUCCEEDED", "Handler", "ProgressBar", "plot_metrics",
           "register"]


def register(commands: Any) -> None:
    """Add `datasets`, `jobs` and `keys` to the `trainforge` subcommands."""
    datasets.register(commands)
    jobs.register(commands)
    keys.register(commands)
