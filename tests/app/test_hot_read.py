"""`app.db.HotRead`: the same rows as an ordinary execution on both databases, and on
PostgreSQL (where it runs on the DBAPI connection) SQLAlchemy's errors, with a dropped
connection invalidated and replaced."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError

from app.db import HotRead, create_db_engine
from app.models import Team, utcnow
from tests.app.conftest import ScratchDatabase

_TEAM = select(Team.id, Team.name, Team.created_at.label("since")).where(
    Team.name == bindparam("name"))


def test_rows_are_those_of_an_ordinary_execution(database: ScratchDatabase) -> None:
    created = utcnow() - timedelta(days=1)
    team_id = uuid.uuid4()
    with database.engine.begin() as conn:
        conn.execute(Team.__table__.insert(), {"id": team_id, "name": "hot",
                                               "created_at": created})
    read = HotRead(_TEAM)
    for _ in range(3):  # the first run also finds the result processors
        (row,) = read.rows(database.engine, {"name": "hot"})
        assert (row.id, row.name, row.since) == (team_id, "hot", created)
        assert row.since.tzinfo == UTC
        with database.engine.connect() as conn:
            assert tuple(row) == tuple(conn.execute(_TEAM, {"name": "hot"}).one())
    assert read.first(database.engine, {"name": "missing"}) is None


def test_a_dropped_connection_is_an_operational_error_then_replaced(
    postgresql_database: ScratchDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.db as db_module

    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 1e9)  # no ping: the read sees it
    engine = create_db_engine(postgresql_database.url, pool_size=1, max_overflow=0)
    read = HotRead(select(Team.id).where(Team.name == bindparam("name")))
    try:
        assert read.rows(engine, {"name": "x"}) == []
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with postgresql_database.engine.connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            admin.commit()
        with pytest.raises(OperationalError) as caught:
            read.rows(engine, {"name": "x"})
        assert caught.value.connection_invalidated
        assert read.rows(engine, {"name": "x"}) == []  # on a new connection
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
            assert conn.exec_driver_sql("SHOW transaction_isolation").scalar()
            assert not conn.connection.driver_connection.autocommit
    finally:
        engine.dispose()
