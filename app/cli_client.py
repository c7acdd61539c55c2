"""The client side of the `trainforge` command line: `datasets`, `jobs` and `keys`, which
talk to a running API through `app.client` (configured by `TRAINFORGE_URL`, default
http://127.0.0.1:8000, and `TRAINFORGE_API_KEY`).

Output is for humans; `--json` on list/show commands prints JSON. Any error is one line
on stderr, `error: <message> (<code>)`, and a non-zero exit status (never a traceback;
set TRAINFORGE_DEBUG=1 to see one for an unexpected error).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from app.client import ApiError, Client, JobProgress

EXIT_ERROR = 1
EXIT_JOB_NOT_SUCCEEDED = 1
Handler = Callable[[argparse.Namespace, Client], int]


def register(commands: Any) -> None:
    """Add `datasets`, `jobs` and `keys` to the `trainforge` subcommands."""
    datasets = commands.add_parser("datasets", help="upload and list datasets (API client)"
                                   ).add_subparsers(dest="datasets_command", required=True)
    upload = datasets.add_parser("upload", help="upload a .json, .csv, .npy or .npz file")
    upload.add_argument("file", help=".json ({inputs, targets}), .csv (with --target-column), "
                        ".npz (arrays inputs, targets) or .npy (inputs; --targets for targets)")
    upload.add_argument("--name", help="the dataset's name (default: the file's)")
    upload.add_argument("--target-column", metavar="C", help="CSV: the column of targets")
    upload.add_argument("--targets", metavar="FILE", help=".npy: the targets file")
    _json_flag(upload)
    _on(upload, _datasets_upload)
    listing = datasets.add_parser("list", help="list the team's datasets")
    _json_flag(listing)
    _on(listing, _datasets_list)
    show = datasets.add_parser("show", help="show a dataset")
    show.add_argument("id")
    _json_flag(show)
    _on(show, _datasets_show)
    delete = datasets.add_parser("delete", help="delete a dataset")
    delete.add_argument("id")
    _on(delete, _datasets_delete)

    jobs = commands.add_parser("jobs", help="submit and follow training jobs (API client)"
                               ).add_subparsers(dest="jobs_command", required=True)
    submit = jobs.add_parser("submit", help="submit a job spec (JSON file; - for stdin)")
    submit.add_argument("spec", help="the job spec, a JSON file")
    submit.add_argument("--dataset", metavar="ID", help="the dataset (overrides the spec's)")
    submit.add_argument("--name", help="the job's name")
    submit.add_argument("--label", action="append", default=[], metavar="K=V",
                        help="a label (repeatable; adds to the spec's)")
    submit.add_argument("--idempotency-key", metavar="KEY",
                        help="retrying with the same key returns the same job")
    submit.add_argument("--dry-run", action="store_true",
                        help="validate and print the report; queue nothing")
    submit.add_argument("--wait", action="store_true",
                        help="follow the job with a progress bar until it ends; the exit "
                        "status is 0 only if it succeeded")
    submit.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="with --wait: give up after S seconds")
    _json_flag(submit)
    _on(submit, _jobs_submit)
    listing = jobs.add_parser("list", help="list jobs, newest first")
    listing.add_argument("--status", action="append", default=[],
                         choices=["queued", "running", "succeeded", "failed", "cancelled"],
                         help="any of these (repeatable)")
    listing.add_argument("--label", action="append", default=[], metavar="K=V",
                         help="all of these (repeatable)")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    _json_flag(listing)
    _on(listing, _jobs_list)
    show = jobs.add_parser("show", help="show a job")
    show.add_argument("id")
    _json_flag(show)
    _on(show, _jobs_show)
    logs = jobs.add_parser("logs", help="a job's events; --follow streams them live")
    logs.add_argument("id")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="stream events (server-sent) until the job ends")
    logs.add_argument("--metrics", action="store_true",
                      help="with --follow: print metric points too")
    _json_flag(logs)
    _on(logs, _jobs_logs)
    metrics = jobs.add_parser("metrics", help="a job's metrics as a table (or a PNG plot)")
    metrics.add_argument("id")
    metrics.add_argument("--name", action="append", default=[], metavar="N",
                         help="only this metric (repeatable)")
    metrics.add_argument("--max-points", type=int, default=None, metavar="N",
                         help="points per series (default 20 for the table, 1000 to plot)")
    metrics.add_argument("--plot", metavar="OUT.png",
                         help="write a PNG of the loss curves (needs matplotlib)")
    _json_flag(metrics)
    _on(metrics, _jobs_metrics)
    cancel = jobs.add_parser("cancel", help="cancel a job")
    cancel.add_argument("id")
    _json_flag(cancel)
    _on(cancel, _jobs_cancel)
    download = jobs.add_parser("download", help="download a job's weights (safetensors)")
    download.add_argument("id")
    download.add_argument("-o", "--output", required=True, metavar="FILE")
    download.add_argument("--checkpoint", metavar="best|STEP", type=_checkpoint,
                          help="the best checkpoint, or a kept checkpoint's step "
                          "(default: the final weights)")
    _on(download, _jobs_download)
    export = jobs.add_parser("export", help="write the job's model as framework source")
    export.add_argument("id")
    export.add_argument("--framework", choices=["torch"], default="torch")
    export.add_argument("-o", "--output", required=True, metavar="FILE")
    _on(export, _jobs_export)

    keys = commands.add_parser("keys", help="manage this team's API keys (API client)"
                               ).add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an API key; prints its secret once")
    create.add_argument("--name", help="a label for the key")
    _json_flag(create)
    _on(create, _keys_create)
    listing = keys.add_parser("list", help="list the team's keys")
    _json_flag(listing)
    _on(listing, _keys_list)
    revoke = keys.add_parser("revoke", help="revoke an API key")
    revoke.add_argument("id")
    _on(revoke, _keys_revoke)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _checkpoint(value: str) -> str:
    if value != "best" and not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected best or a step number, not {value!r}")
    return value


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


# --- datasets --------------------------------------------------------------------------

def _dataset_line(d: Any) -> str:
    classes = f", {d.num_classes} classes" if d.num_classes is not None else ""
    return (f"{d.id}  {d.name!r}: {d.rows} rows, input {_shape(d.input_shape)}, target "
            f"{_shape(d.target_shape)} {d.target_dtype}{classes}")


def _datasets_upload(args: argparse.Namespace, client: Client) -> int:
    dataset = client.upload_dataset(args.file, name=args.name, target_column=args.target_column,
                                    targets_path=args.targets)
    if args.json:
        _print_json(dataset)
    else:
        print(f"uploaded {_dataset_line(dataset)}")
    return 0


def _datasets_list(args: argparse.Namespace, client: Client) -> int:
    items = list(client.iter_datasets())
    if args.json:
        _print_json(items)
        return 0
    _table(["ID", "NAME", "FORMAT", "ROWS", "INPUT", "TARGET", "CLASSES", "CREATED"],
           [[d.id, d.name, d.format, d.rows, _shape(d.input_shape),
             f"{_shape(d.target_shape)} {d.target_dtype}", d.num_classes, _when(d.created_at)]
            for d in items])
    return 0


def _datasets_show(args: argparse.Namespace, client: Client) -> int:
    dataset = client.get_dataset(args.id)
    if args.json:
        _print_json(dataset)
    else:
        print(_dataset_line(dataset))
        print(f"format {dataset.format}, {dataset.size_bytes} bytes, sha256 {dataset.sha256}, "
              f"created {_when(dataset.created_at)}")
    return 0


def _datasets_delete(args: argparse.Namespace, client: Client) -> int:
    client.delete_dataset(args.id)
    print(f"deleted dataset {args.id}")
    return 0


# --- jobs ------------------------------------------------------------------------------

def _read_spec(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        spec = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: expected a JSON object (the job spec)")
    return spec


def _jobs_submit(args: argparse.Namespace, client: Client) -> int:
    spec = _read_spec(args.spec)
    labels = {**(spec.get("labels") or {}), **_labels(args.label)} if args.label else None
    common = {"dataset_id": args.dataset, "name": args.name, "labels": labels,
              "idempotency_key": args.idempotency_key}
    if args.dry_run:
        report = client.submit_job(spec, dry_run=True, **common)
        if args.json:
            _print_json(report)
        else:
            print(f"valid: {report.parameters} parameters, output {_shape(report.output_shape)}"
                  f", ~{report.estimated_memory_bytes} bytes, {report.train_rows} training rows,"
                  f" {report.steps_per_epoch} steps/epoch, {report.total_steps} steps")
        return 0
    job = client.submit_job(spec, **common)
    if args.json and not args.wait:
        _print_json(job)
        return 0
    note = " (already submitted with this idempotency key)" if job.replayed else ""
    print(f"{job.id}  submitted{note}: {job.name} ({job.status})", flush=True,
          file=sys.stderr if args.json else sys.stdout)
    if not args.wait:
        return 0
    bar = ProgressBar(sys.stderr)
    try:
        job = job.wait(timeout=args.timeout, on_progress=bar.update)
    finally:
        bar.close()
    if args.json:
        _print_json(job)
    return _ended(job)


def _ended(job: Any) -> int:
    """The final line of a followed job; 0 only if it succeeded."""
    if job.status == "succeeded":
        loss = job.latest_metrics.get("loss")
        tail = f", final loss {loss.value:.4g}" if loss else ""
        print(f"job {job.id} succeeded after {job.progress.step} steps{tail}", file=sys.stderr)
        return 0
    reason = f": {job.error.message} ({job.error.code})" if job.error else ""
    print(f"error: job {job.id} {job.status}{reason}", file=sys.stderr)
    return EXIT_JOB_NOT_SUCCEEDED


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


def _jobs_list(args: argparse.Namespace, client: Client) -> int:
    items = []
    for job in client.iter_jobs(status=args.status or None,
                                labels=args.label or None, page_size=min(args.limit, 100)):
        items.append(job)
        if len(items) >= args.limit:
            break
    if args.json:
        _print_json(items)
        return 0
    _table(["ID", "NAME", "STATUS", "PROGRESS", "LABELS", "CREATED"],
           [[j.id, j.name, j.status + (" (cancel requested)" if j.cancel_requested else ""),
             f"{j.progress.percent:.0f}% ({j.progress.step}/{j.progress.total_steps})",
             ",".join(f"{k}={v}" for k, v in sorted(j.labels.items())) or None,
             _when(j.created_at)] for j in items])
    return 0


def _jobs_show(args: argparse.Namespace, client: Client) -> int:
    job = client.get_job(args.id)
    if args.json:
        _print_json(job)
        return 0
    p = job.progress
    rows = [("id", job.id), ("name", job.name),
            ("status", job.status + (" (cancel requested)" if job.cancel_requested else "")),
            ("progress", f"{p.percent:.1f}%  epoch {p.epoch}  step {p.step}/{p.total_steps}"
                         + (f"  ETA {_duration(p.eta_seconds)}" if p.eta_seconds is not None
                            else "")),
            ("dataset", job.dataset_id or "-"), ("attempts", job.attempts),
            ("labels", ", ".join(f"{k}={v}" for k, v in sorted(job.labels.items())) or "-"),
            ("created", _when(job.created_at)), ("started", _when(job.started_at)),
            ("finished", _when(job.finished_at))]
    if job.queue_position is not None:
        rows.append(("queue position", job.queue_position))
    if job.error is not None:
        rows.append(("error", f"{job.error.message} ({job.error.code})"))
    for name, value in sorted(job.latest_metrics.items()):
        rows.append((name, f"{value.value:.6g} (step {value.step})"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    return 0


def _event_line(when: str, kind: str, data: Any) -> str:
    if isinstance(data, dict) and "payload" in data:
        payload = data.get("payload") or {}
        text = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in payload.items())
        return f"{when}  {data.get('type', kind):<18} {text}".rstrip()
    return f"{when}  {kind:<18} {json.dumps(data, default=str)}"


def _jobs_logs(args: argparse.Namespace, client: Client) -> int:
    if not args.follow:
        events = list(client.iter_job_events(args.id))
        if args.json:
            _print_json(events)
            return 0
        for e in events:
            print(_event_line(_when(e.created_at), e.type, {"type": e.type,
                                                            "payload": e.payload}))
        return 0
    for message in client.stream_events(args.id):
        if message.event == "metric" and not args.metrics:
            continue
        if args.json:
            print(json.dumps({"id": message.id, "event": message.event, "data": message.data}),
                  flush=True)
            continue
        if message.event == "end":
            status = message.data.get("status") if isinstance(message.data, dict) else None
            print(f"-- job ended: {status}", flush=True)
            break
        data = message.data if isinstance(message.data, dict) else {}
        when = str(data.get("created_at", ""))[:19].replace("T", " ")
        if message.event == "metric":
            print(f"{'':19}  metric {data.get('name')} step {data.get('step')} = "
                  f"{data.get('value'):.6g}", flush=True)
        else:
            print(_event_line(when, message.event, data), flush=True)
    return 0


def _jobs_metrics(args: argparse.Namespace, client: Client) -> int:
    max_points = args.max_points or (1000 if args.plot else 20)
    series = client.job_metrics(args.id, names=args.name or None, max_points=max_points)
    if args.plot:
        written = plot_metrics(series, args.plot, title=f"job {args.id}")
        print(f"wrote {written}")
        return 0
    if args.json:
        _print_json(series)
        return 0
    if not series:
        print("no metrics yet")
        return 0
    names = sorted(series)
    values: dict[int, dict[str, float]] = {}
    for name in names:
        for point in series[name].points:
            values.setdefault(point.step, {})[name] = point.value
    _table(["STEP", *names], [[step, *[(f"{row[n]:.6g}" if n in row else None)
                                        for n in names]]
                              for step, row in sorted(values.items())])
    shown = [n for n in names if series[n].downsampled]
    if shown:
        print(f"({', '.join(shown)} downsampled to {max_points} points; --max-points for more)")
    return 0


def plot_metrics(series: dict[str, Any], path: str, *, title: str = "") -> str:
    """A PNG of the loss curves (every series with `loss` in its name; all series when
    none has) against the step. Needs matplotlib (`pip install 'trainforge[plot]'`)."""
    try:
        import matplotlib
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'trainforge[plot]' "
                         "(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [s for name, s in sorted(series.items()) if "loss" in name] or list(
        series.values())
    if not chosen:
        raise ValueError("the job has no metrics to plot yet")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        for s in chosen:
            ax.plot(s.steps, s.values, label=s.name, marker="o" if len(s.points) < 30 else None)
        ax.set_xlabel("step")
        ax.set_ylabel("value")
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def _jobs_cancel(args: argparse.Namespace, client: Client) -> int:
    job = client.cancel_job(args.id)
    if args.json:
        _print_json(job)
    else:
        note = " (cancel requested: it stops within two heartbeats)" if (
            job.cancel_requested and job.status == "running") else ""
        print(f"{job.id}  {job.status}{note}")
    return 0


def _jobs_download(args: argparse.Namespace, client: Client) -> int:
    weights = client.download_weights(args.id, args.output, checkpoint=args.checkpoint)
    print(f"wrote {weights.path} ({weights.size_bytes} bytes, sha256 {weights.sha256}, "
          "checksum verified)")
    return 0


def _jobs_export(args: argparse.Namespace, client: Client) -> int:
    job = client.get_job(args.id)
    try:
        from app.spec.export_torch import torch_source
    except ImportError:
        raise ValueError("this installation has no PyTorch export (app.spec.export_torch)"
                         ) from None
    if "model" not in job.spec:
        raise ValueError(f"job {job.id} has no model spec to export")
    source = torch_source(job.spec["model"], origin=job.id)
    Path(args.output).write_text(source)
    print(f"wrote {args.output}: `from {Path(args.output).stem} import build`; "
          f"load the weights with `jobs download {job.id}`")
    return 0


# --- keys ------------------------------------------------------------------------------

def _keys_create(args: argparse.Namespace, client: Client) -> int:
    key = client.create_key(args.name)
    if args.json:
        _print_json(key)
    else:
        print(f"created key {key.id}{f' ({key.name})' if key.name else ''}")
        print(f"API key (shown once, store it now): {key.key}")
    return 0


def _keys_list(args: argparse.Namespace, client: Client) -> int:
    keys = client.list_keys()
    if args.json:
        _print_json(keys)
        return 0
    _table(["ID", "NAME", "KEY", "CREATED", "LAST USED", ""],
           [[k.id, k.name, f"{k.prefix}...{k.last_four}", _when(k.created_at),
             _when(k.last_used_at), "(this key)" if k.current else ""] for k in keys])
    return 0


def _keys_revoke(args: argparse.Namespace, client: Client) -> int:
    client.revoke_key(args.id)
    print(f"revoked key {args.id}")
    return 0
