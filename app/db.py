"""Database engine and sessions for SQLite (embedded default) and PostgreSQL.

Transactions are owned by services: open one with `transaction(session)` (reads) or
`transaction(session, write=True)` (writes). On SQLite a write transaction starts with
`BEGIN IMMEDIATE`, so it takes the write lock up front and can never fail half-way on a
stale snapshot; reads use a plain deferred `BEGIN` and never block the writer (WAL).
On PostgreSQL a read "transaction" runs in autocommit mode: each statement sees the data
committed when it starts, exactly as under READ COMMITTED inside a transaction, without
the BEGIN and COMMIT round trips (reads are most of the API's traffic). Nothing may be
written or locked in a read transaction.
"""

from __future__ import annotations

import time
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Dialect, Engine, Select, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings

WRITE_OPTION = "trainforge_write"
PING_AFTER_IDLE_S = 5.0


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL; plain `postgresql://` and `postgres://` select psycopg 3."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_db_engine(
    url: str | URL,
    *,
    sqlite_busy_timeout_ms: int = 5000,
    pool_size: int = 10,
    max_overflow: int = 20,
    connect_timeout_s: int = 5,
    **kwargs: Any,
) -> Engine:
    """Create an engine; SQLite connections get WAL, a busy timeout and foreign keys."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False}, **kwargs
        )
        _configure_sqlite(engine, sqlite_busy_timeout_ms)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {"connect_timeout": connect_timeout_s})
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", pool_size)
            kwargs.setdefault("max_overflow", max_overflow)
        engine = create_engine(parsed, **kwargs)
        _ping_idle_connections(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling, only where it pays: a pooled connection unused for
    `PING_AFTER_IDLE_S` is pinged on checkout (a dead one is replaced before use, as with
    `pool_pre_ping`); one in steady use is not, which saves a round trip per checkout.
    A server restart under steady load is met by the first statement on a stale
    connection: SQLAlchemy then invalidates the whole pool, and that one request gets
    the 503 `database_unavailable` (retry) answer."""

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:
            raise DisconnectionError("connection was closed while idle in the pool")


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, so we choose its kind.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """An engine plus its session factory; one per process (held on `app.state.db`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker(engine, expire_on_commit=False, autoflush=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            create_db_engine(
                settings.database_url,
                sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                connect_timeout_s=settings.db_connect_timeout_s,
            )
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.sessionmaker()

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def read_connection(bind: Session | Engine) -> Iterator[Connection]:
    """A connection for a few Core read statements on a hot path (authentication, job
    polling), bypassing the ORM session's bookkeeping, which costs more than the query:
    autocommit on PostgreSQL (as read transactions), a deferred transaction on SQLite."""
    engine = bind if isinstance(bind, Engine) else bind.get_bind()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            with conn.begin():
                yield conn


class HotRead:
    """A read statement on a hot path (authentication, job polling), built once.

    On PostgreSQL it runs on the pooled DBAPI connection directly, in autocommit: the
    statement is compiled once, and each row is converted with the result processors
    SQLAlchemy would apply (found from the first result's column types). This skips
    SQLAlchemy's per-execution machinery and the driver's column descriptions, which
    together cost about three times the query itself. Errors are SQLAlchemy's, as from
    `Connection.execute` (a dropped connection is invalidated). Elsewhere (SQLite) it is
    an ordinary execution in `read_connection`. Rows have attributes named as the
    statement's columns (labels).
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._plans: dict[Dialect, _Plan] = {}

    def rows(self, engine: Engine, params: dict[str, Any]) -> list[Any]:
        if engine.dialect.name != "postgresql":
            with read_connection(engine) as conn:
                return list(conn.execute(self.statement, params))
        plan = self._plans.get(engine.dialect)
        if plan is None:
            plan = self._plans[engine.dialect] = _Plan(self.statement, engine.dialect)
        return plan.run(engine, params)

    def first(self, engine: Engine, params: dict[str, Any]) -> Any | None:
        rows = self.rows(engine, params)
        return rows[0] if rows else None


class _Plan:
    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        self.dialect = dialect
        self.compiled = statement.compile(dialect=dialect)
        self.sql = self.compiled.string
        columns = self.compiled._result_columns
        self.row = namedtuple("Row", [c[0] for c in columns])  # type: ignore[misc]
        self.types = [c[3] for c in columns]
        self.processors: list[tuple[int, Any]] | None = None

    def run(self, engine: Engine, params: dict[str, Any]) -> list[Any]:
        values = self.compiled.construct_params(params)
        fairy = engine.raw_connection()
        try:
            conn = fairy.driver_connection
            try:
                conn.autocommit = True
                try:
                    cursor = conn.execute(self.sql, values)
                    if self.processors is None:
                        self.processors = self._processors(cursor.description)
                    fetched = cursor.fetchall()
                finally:
                    conn.autocommit = False
            except Exception as exc:
                dbapi = self.dialect.loaded_dbapi
                if not isinstance(exc, dbapi.Error):
                    raise
                lost = self.dialect.is_disconnect(exc, conn, None)
                if lost:
                    fairy.invalidate(exc)
                raise DBAPIError.instance(self.sql, values, exc, dbapi.Error,
                                          connection_invalidated=lost,
                                          dialect=self.dialect) from exc
        finally:
            fairy.close()
        processors = self.processors
        if not processors:
            return [self.row._make(r) for r in fetched]
        rows = []
        for fetched_row in fetched:
            values_ = list(fetched_row)
            for i, process in processors:
                values_[i] = process(values_[i])
            rows.append(self.row._make(values_))
        return rows

    def _processors(self, description: Any) -> list[tuple[int, Any]]:
        found = []
        for i, (type_, column) in enumerate(zip(self.types, description)):
            process = type_._cached_result_processor(self.dialect, column.type_code)
            if process is not None:
                found.append((i, process))
        return found


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection in a write transaction (`BEGIN IMMEDIATE` on SQLite): commit on
    success, roll back on any exception. For short writes on a hot path without a Session."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


@contextmanager
def transaction(session: Session, *, write: bool = False) -> Iterator[Session]:
    """Run a block in one transaction: commit on success, roll back on any exception."""
    with session.begin():
        if write:
            session.connection(execution_options={WRITE_OPTION: True})
        elif session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
