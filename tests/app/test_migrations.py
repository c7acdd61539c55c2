"""The schema comes only from the migrations, and they match the models exactly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from app import migrate
from app.db import create_db_engine
from app.main import create_app
from tests.app.conftest import BACKENDS, PostgresAdmin, TestClient, make_settings, worker_tag


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A brand-new database that has never been migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin: PostgresAdmin = request.getfixturevalue("pg_admin")
    name = f"trainforge_test_{worker_tag()}_{uuid.uuid4().hex[:8]}"
    try:
        yield admin.create(name)
    finally:
        admin.drop(name)


def test_upgrade_head_matches_the_models(empty_url: str) -> None:
    from app.models import Base

    migrate.upgrade(empty_url)
    engine = create_db_engine(empty_url)
    try:
        assert migrate.is_at_head(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts=migrate.autogenerate_options(engine.dialect.name))
            assert compare_metadata(context, Base.metadata) == []
            names = set(inspect(conn).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"} == names
    finally:
        engine.dispose()


def test_queue_index_is_partial_and_ordered_for_claims(empty_url: str) -> None:
    """The index SQLite cannot reflect (so autogenerate skips it there) is checked by hand."""
    migrate.upgrade(empty_url)
    engine = create_db_engine(empty_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = "
                                        "'ix_jobs_queue'")).scalar_one()
            else:
                ddl = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                        "'ix_jobs_queue'")).scalar_one()
        assert "priority DESC" in ddl and "created_at" in ddl
        assert "WHERE" in ddl.upper() and "queued" in ddl
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    migrate.downgrade(empty_url, "base")
    engine = create_db_engine(empty_url)
    try:
        assert migrate.current_revisions(engine) == ()
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(empty_url)
        migrate.upgrade(empty_url)  # idempotent
        assert migrate.is_at_head(engine)
    finally:
        engine.dispose()


def test_readyz_is_503_until_migrated_and_healthz_never_needs_the_db(empty_url: str) -> None:
    with TestClient(create_app(make_settings(empty_url))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["detail"]["code"] == "not_migrated"
        migrate.upgrade(empty_url)
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "revision": ",".join(
            migrate.head_revisions())}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    with TestClient(create_app(make_settings(url))) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["detail"]["code"] == "database_unreachable"
        response = client.get("/v1/datasets", headers={"Authorization": "Bearer tf_x"})
        assert response.status_code == 503
        assert response.json()["detail"]["code"] == "database_unavailable"
        assert response.headers["Retry-After"] == "1"
