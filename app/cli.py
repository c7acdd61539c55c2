"""The `trainforge` command line.

    trainforge serve [--host H] [--port P] [--first-team NAME] [--workers N]
                                                                  migrate, then run the API
                                                                  and N workers (default 1)
    trainforge migrate                                            migrate to the latest schema
    trainforge team create NAME                                   new team; prints its key once
    trainforge key create TEAM                                    another key for a team
    trainforge worker [--device auto|cpu|cuda|cuda:K] [--concurrency N] [--name N]
                      [--poll S] [--once]                         train queued jobs

Client commands (talk to a running API at $TRAINFORGE_URL, default http://127.0.0.1:8000,
with the team key $TRAINFORGE_API_KEY; `--json` on list/show prints JSON):

    trainforge datasets upload FILE [--name N] [--target-column C] [--targets FILE]
                                                                  .json/.csv/.npy/.npz
    trainforge datasets list | show ID | delete ID
    trainforge jobs submit SPEC.json [--dataset ID] [--label K=V] [--dry-run] [--wait]
                                                                  --wait: progress bar, exit 0
                                                                  only if it succeeded
    trainforge jobs list [--status S] [--label K=V]
    trainforge jobs show ID
    trainforge jobs logs ID [--follow]                            events; --follow streams them
    trainforge jobs metrics ID [--name N] [--plot OUT.png]        a table, or a PNG (matplotlib)
    trainforge jobs cancel ID
    trainforge jobs download ID -o model.safetensors [--checkpoint best|STEP]
    trainforge jobs export ID --framework torch -o model.py       the model as PyTorch source
    trainforge keys create [--name N] | list | revoke ID

Run as `python -m app.cli ...` when the console script is not installed.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database
from app.errors import AppError


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "api_client", False):  # client commands: no server settings
        return int(args.handler(args, None) or 0)
    settings = Settings()
    try:
        return int(args.handler(args, settings) or 0)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"error: database {settings.database_url!r}: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainforge", description="Trainforge service.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve the API")
    serve.add_argument("--host", default=None, help="bind address (default: settings, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: settings, 8000)")
    serve.add_argument("--first-team", metavar="NAME", default=None,
                       help="when the database has no team, create this one and print its key")
    serve.add_argument("--no-migrate", action="store_true", help="do not run migrations first")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes to run beside the API on the same database "
                            "(default 1; 0 for the API only)")
    serve.add_argument("--worker-device", default="auto", type=_device,
                       help="device of those workers: auto (default), cpu, cuda or cuda:K")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="migrate the database to the latest schema")
    migrate.set_defaults(handler=_migrate)

    team = commands.add_parser("team", help="manage teams").add_subparsers(
        dest="team_command", required=True)
    team_create = team.add_parser("create", help="create a team and print its first API key")
    team_create.add_argument("name")
    team_create.set_defaults(handler=_team_create)

    key = commands.add_parser("key", help="manage API keys").add_subparsers(
        dest="key_command", required=True)
    key_create = key.add_parser("create", help="create another API key for a team")
    key_create.add_argument("team")
    key_create.add_argument("--name", default=None, help="a label for the key")
    key_create.set_defaults(handler=_key_create)

    worker = commands.add_parser("worker", help="claim and train queued jobs")
    worker.add_argument("--device", type=_device, default="auto",
                        help="auto (cuda when available), cpu, cuda or cuda:K (GPU K)")
    worker.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="jobs run at once: N worker processes on the device (default 1)")
    worker.add_argument("--name", default=None, help="the worker's name (default: worker)")
    worker.add_argument("--poll", type=float, default=None, metavar="S",
                        help="seconds between claims when the queue is empty (default: "
                             "TRAINFORGE_POLL_SECONDS, 0.5)")
    worker.add_argument("--once", action="store_true",
                        help="drain the queue, then exit")
    worker.set_defaults(handler=_worker)

    from app import cli_client

    cli_client.register(commands)
    return parser


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from app import migrate

    migrate.upgrade(settings.database_url)
    print(f"database migrated to {', '.join(migrate.head_revisions())}")
    return 0


def _team_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.schemas.common import Name
    from app.services import teams

    name = _validated(Name, args.name, "team name")
    with _session(settings) as session:
        team, key = teams.create_team(session, name)
    print(f"created team {team.name!r} ({team.id})")
    print(f"API key (shown once, store it now): {key.secret}")
    return 0


def _key_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.schemas.common import Name
    from app.services import keys, teams

    label = _validated(Name, args.name, "key name") if args.name is not None else None
    with _session(settings) as session:
        team = teams.get_team_by_name(session, args.team)
        key = keys.create_key(session, team.id, label, max_keys=settings.max_keys_per_team)
    print(f"API key for team {team.name!r} (shown once, store it now): {key.secret}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app import migrate
    from app.main import create_app
    from app.observability import logs
    from app.schemas.common import Name
    from app.services import teams

    logs.configure(settings.log_format, settings.log_level)
    host = args.host or settings.host
    port = args.port or settings.port
    if not args.no_migrate:
        migrate.upgrade(settings.database_url)
    with _session(settings) as session:
        if teams.count_teams(session) == 0:
            if args.first_team:
                name = _validated(Name, args.first_team, "team name")
                team, key = teams.create_team(session, name)
                print(f"Created team {team.name!r}. Its API key (shown once, store it now):\n"
                      f"    {key.secret}")
            else:
                print("No team yet: create one and its API key with\n"
                      "    trainforge team create NAME   (or: python -m app.cli team create NAME)")
        else:
            print("Need another API key? `trainforge key create TEAM` "
                  "(or: python -m app.cli key create TEAM)")
    workers = _start_workers(max(args.workers, 0), args.worker_device)
    print(f"Trainforge API on http://{host}:{port}  (docs UI: http://{host}:{port}/docs), "
          f"{len(workers)} worker process(es). Ctrl-C stops them.", flush=True)
    # uvicorn shuts down on SIGTERM, then raises the signal again to the handler it found:
    # make that handler an exit, so that the `finally` stops the workers.
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level,
                    log_config=None, access_log=False)  # our handler, our access lines
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_workers(workers)
    return 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _start_workers(count: int, device: str, name: str = "worker",
                   extra: Sequence[str] = ()) -> list:
    """Worker processes on the same database (they inherit the environment's settings)."""
    import subprocess

    command = [sys.executable, "-m", "app.cli", "worker", "--device", device, *extra]
    return [subprocess.Popen([*command, "--name", f"{name}-{i}" if count > 1 else name])
            for i in range(count)]


def _stop_workers(procs: list, timeout_s: float = 30.0) -> None:
    """SIGTERM: each worker checkpoints and releases its job; kill what is left after."""
    import subprocess

    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _device(value: str) -> str:
    from app.worker.loop import DEVICE_PATTERN

    if not DEVICE_PATTERN.match(value):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:K, not {value!r}")
    return value


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import threading

    from app import migrate
    from app.observability import logs
    from app.worker.loop import WorkerSettings, install_signal_handlers, run_worker

    if args.concurrency < 1:
        raise AppError("--concurrency must be at least 1", code="bad_argument")
    if args.concurrency > 1:  # one process per concurrent job, supervised here
        return _supervise_workers(args)
    logs.configure(settings.log_format, settings.log_level)
    db = Database.from_settings(settings)
    try:
        if not migrate.is_at_head(db.engine):
            raise AppError("the database is not migrated: run `trainforge migrate` first",
                           code="not_migrated")
        stop = threading.Event()
        install_signal_handlers(stop)
        overrides = {"poll_s": args.poll} if args.poll is not None else {}
        counts = run_worker(db, WorkerSettings.from_settings(
            settings, name=args.name or "worker", device=args.device, once=args.once,
            **overrides), stop=stop)
    finally:
        db.dispose()
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no jobs", flush=True)
    return 0


def _supervise_workers(args: argparse.Namespace) -> int:
    """`--concurrency N`: N single-job worker processes; SIGTERM/SIGINT reach each of
    them (each checkpoints and releases its job), and this process waits for them."""
    extra = ["--poll", str(args.poll)] if args.poll is not None else []
    extra += ["--once"] if args.once else []
    procs = _start_workers(args.concurrency, args.device, name=args.name or "worker",
                           extra=extra)

    def forward(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(proc.wait() for proc in procs)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A session on the configured database, which must be migrated."""
    from app import migrate

    db = Database.from_settings(settings)
    try:
        if not migrate.is_at_head(db.engine):
            raise AppError("the database is not migrated: run `trainforge migrate` first",
                           code="not_migrated")
        session = db.session()
        try:
            yield session
        finally:
            session.close()
    finally:
        db.dispose()


def _validated(type_: object, value: str, what: str) -> str:
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(type_).validate_python(value)
    except ValidationError as exc:
        raise AppError(f"invalid {what}: {exc.errors()[0]['msg']}", code="invalid") from None


if __name__ == "__main__":
    sys.exit(main())
