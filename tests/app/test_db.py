"""Database plumbing: settings, URL handling, SQLite pragmas and write locks, UTC times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy import event, select

from app.config import Settings
from app.db import Database, create_db_engine, normalize_url, transaction
from app.models import Team
from tests.app.conftest import ScratchDatabase


def test_settings_come_from_trainforge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINFORGE_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("TRAINFORGE_MAX_BODY_BYTES", "123")
    monkeypatch.setenv("TRAINFORGE_ADMIN_TOKEN", "")
    settings = Settings()
    assert (settings.database_url, settings.max_body_bytes, settings.admin_token) == (
        "postgresql://u@h/db", 123, None)
    assert Settings(_env_file=None).max_dataset_values == 10_000_000
    with pytest.raises(ValidationError):
        Settings(admin_token="short")
    with pytest.raises(ValidationError):
        Settings(max_body_bytes=0)


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'p.db'}", sqlite_busy_timeout_ms=1234)
    with engine.connect() as conn:
        pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("journal_mode", "busy_timeout", "foreign_keys")}
    engine.dispose()
    assert pragma == {"journal_mode": "wal", "busy_timeout": 1234, "foreign_keys": 1}


def test_write_transactions_take_the_sqlite_write_lock_up_front(
    database: ScratchDatabase,
) -> None:
    db = Database(database.engine)
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.session() as session:
            with transaction(session, write=True):
                session.add(Team(name="t"))
            with transaction(session):
                session.scalars(select(Team)).all()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    if database.engine.dialect.name == "sqlite":
        assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN"]


def test_datetimes_are_stored_and_returned_in_utc(database: ScratchDatabase) -> None:
    db = Database(database.engine)
    local = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5)))
    team_id = uuid.uuid4()
    with db.session() as session:
        with transaction(session, write=True):
            session.add(Team(id=team_id, name="tz", created_at=local))
        session.expunge_all()
        with transaction(session):
            stored = session.get(Team, team_id)
        assert stored is not None and stored.created_at == local
        assert stored.created_at.tzinfo == UTC
        with pytest.raises(Exception, match="naive datetime"):
            with transaction(session, write=True):
                session.add(Team(name="naive", created_at=datetime(2026, 1, 1)))


def test_postgresql_replaces_a_connection_that_died_while_idle(
    postgresql_database: ScratchDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections idle longer than PING_AFTER_IDLE_S are pinged on checkout; one
    whose server process is gone is replaced before the caller sees it."""
    import app.db as db_module

    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
    engine = db_module.create_db_engine(postgresql_database.url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with postgresql_database.engine.connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            admin.commit()
        with engine.connect() as conn:  # the dead connection is pinged and replaced
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    finally:
        engine.dispose()
