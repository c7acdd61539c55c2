"""`trainforge jobs`: submit, list, show, follow (logs), metrics, cancel, download and
export training jobs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli_client.common import (
    EXIT_JOB_NOT_SUCCEEDED,
    _duration,
    _json_flag,
    _labels,
    _on,
    _print_json,
    _shape,
    _table,
    _when,
)
from app.cli_client.plot import plot_metrics
from app.cli_client.progress import ProgressBar
from app.client import Client


def register(commands: Any) -> None:
    """Add `jobs` to the `trainforge` subcommands."""
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


def _checkpoint(value: str) -> str:
    if value != "best" and not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected best or a step number, not {value!r}")
    return value


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


