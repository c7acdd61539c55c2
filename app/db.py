"""Database engine and sessions for SQLite (embedded default) and PostgreSQL.

Transactions are owned by services: open one with `transaction(session)` (reads) or
`transaction(session, write=True)` (writes). On SQLite a write transaction starts with
`BEGIN IMMEDIATE`, so it takes the write lock up front and can never fail half-way on a
stale snapshot; reads use a plain deferred `BEGIN` and never block the writer (WAL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings

WRITE_OPTION = "trainforge_write"


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
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


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
def transaction(session: Session, *, write: bool = False) -> Iterator[Session]:
    """Run a block in one transaction: commit on success, roll back on any exception."""
    with session.begin():
        if write:
            session.connection(execution_options={WRITE_OPTION: True})
        yield session
