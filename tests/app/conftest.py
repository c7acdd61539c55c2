"""Fixtures for the app tests: real databases and a real HTTP client on the ASGI app.

Every API test runs on SQLite (a temp file) and PostgreSQL (`database_url` is
parametrized). Each xdist worker migrates its own databases once (PostgreSQL:
`trainforge_test_<pid>_<worker>`, dropped at the end) and empties them before each
test. PostgreSQL comes from TRAINFORGE_TEST_POSTGRES_URL (default: postgres on
127.0.0.1); when unreachable its tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import migrate
from app.config import Settings
from app.db import Database, create_db_engine
from app.main import create_app
from app.models import Base, Job, Team, utcnow

with warnings.catch_warnings():
    # Starlette asks for `httpx2` over `httpx`; both work for the test client.
    warnings.filterwarnings("ignore", message=".*install `httpx2`")
    from fastapi.testclient import TestClient

ADMIN_TOKEN = "test-admin-token-0123456789"
PG_ADMIN_URL = os.environ.get("TRAINFORGE_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")
_TABLES = [t.name for t in reversed(Base.metadata.sorted_tables)]


def worker_tag() -> str:
    """`<pid>_<xdist worker>`: unique among concurrent runs on this machine."""
    return f"{os.getpid()}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresAdmin:
    """Creates and drops scratch databases through an autocommit admin connection."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def create(self, name: str) -> str:
        self.drop(name)
        self.conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        # Tests need no durability: skip the WAL flush on commit (per database).
        self.conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off")
                          .format(sql.Identifier(name)))
        url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    def drop_stale(self) -> None:
        """Drop test databases left by killed runs (their process is gone)."""
        names = self.conn.execute("SELECT datname FROM pg_database WHERE datname LIKE "
                                  "'trainforge\\_test\\_%'").fetchall()
        for (name,) in names:
            pid = name.split("_")[2] if name.count("_") >= 3 else ""
            if pid.isdigit() and not _alive(int(pid)):
                self.drop(name)

    def drop(self, name: str) -> None:
        self.conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                          .format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[PostgresAdmin]:
    try:
        conn = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        reason = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"{reason} (set TRAINFORGE_TEST_POSTGRES_URL)")
    with conn:
        admin = PostgresAdmin(conn)
        admin.drop_stale()
        yield admin


@dataclass
class ScratchDatabase:
    url: str
    engine: Engine

    def empty(self) -> None:
        with self.engine.begin() as conn:  # DELETE beats TRUNCATE on tiny tables
            for table in _TABLES:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabase]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'trainforge.db'}"
    migrate.upgrade(url)
    engine = create_db_engine(url)
    yield ScratchDatabase(url, engine)
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_database(pg_admin: PostgresAdmin) -> Iterator[ScratchDatabase]:
    name = f"trainforge_test_{worker_tag()}"
    url = pg_admin.create(name)
    try:
        migrate.upgrade(url)
        engine = create_db_engine(url)
        yield ScratchDatabase(url, engine)
        engine.dispose()
    finally:
        pg_admin.drop(name)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase:
    """A migrated, empty database: SQLite, then PostgreSQL."""
    db: ScratchDatabase = request.getfixturevalue(f"{request.param}_database")
    db.empty()
    return db


@pytest.fixture
def database_url(database: ScratchDatabase) -> str:
    return database.url


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings. The API's reaper is off unless a test asks for it: tests decide
    when expired leases are reaped (by workers, or `reap` with a chosen `now`)."""
    values: dict[str, object] = {"database_url": database_url, "admin_token": ADMIN_TOKEN,
                                 "reap_interval_seconds": 1e9}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_client(database_url: str) -> Iterator[Callable[..., TestClient]]:
    """`make_client(**settings)`: a client on a fresh app (lifespan run) on `database`."""
    clients: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        client = TestClient(create_app(make_settings(database_url, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@dataclass
class TeamHandle:
    """A team created through the API, with its first key."""

    id: str
    name: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def create_team(client: TestClient, name: str) -> TeamHandle:
    response = client.post("/v1/teams", json={"name": name},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 201, response.text
    body = response.json()
    return TeamHandle(id=body["team"]["id"], name=name, key=body["key"]["key"],
                      key_id=body["key"]["id"])


@pytest.fixture
def team(client: TestClient) -> TeamHandle:
    return create_team(client, "team-a")


@pytest.fixture
def other_team(client: TestClient) -> TeamHandle:
    return create_team(client, "team-b")


# --- the queue layer, below the API ----------------------------------------------------

@pytest.fixture
def db(database: ScratchDatabase) -> Iterator[Database]:
    yield Database(database.engine)  # the engine is the session's: never disposed here


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.session() as s:
        yield s


@pytest.fixture
def team_id(session: Session) -> uuid.UUID:
    team = Team(name=f"team-{uuid.uuid4().hex[:8]}")
    with session.begin():
        session.add(team)
    return team.id


@pytest.fixture
def add_job(session: Session, team_id: uuid.UUID) -> Callable[..., uuid.UUID]:
    """`add_job(priority=0, device="auto", age_s=0)`: insert a queued job directly."""
    base = utcnow() - timedelta(hours=1)

    def add(*, priority: int = 0, device: str | None = "auto", age_s: float = 0.0) -> uuid.UUID:
        spec: dict[str, Any] = {"epochs": 1} if device is None else {"device": device}
        job = Job(team_id=team_id, name="j", spec=spec, priority=priority,
                  created_at=base - timedelta(seconds=age_s))
        with session.begin():
            session.add(job)
        return job.id

    return add
