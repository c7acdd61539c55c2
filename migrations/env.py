"""Alembic environment for the Trainforge database.

The URL comes from `config.attributes["database_url"]` (set by `app.migrate`), else
`sqlalchemy.url` in alembic.ini, else the settings (`TRAINFORGE_DATABASE_URL`).
Migrations run in one transaction; concurrent runs are serialized (an advisory lock on
PostgreSQL, `BEGIN IMMEDIATE` on SQLite). On SQLite, foreign keys are off while
migrating (batch table rebuilds must not cascade) and checked before committing.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url

from app.config import Settings
from app.db import WRITE_OPTION, create_db_engine
from app.migrate import autogenerate_options
from app.models import Base

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
MIGRATION_LOCK_ID = 0x5472_6146  # pg_advisory_xact_lock key for "Trainforge migrations"


def database_url() -> str:
    return (
        config.attributes.get("database_url")
        or config.get_main_option("sqlalchemy.url")
        or Settings().database_url
    )


def configure_context(dialect: str, **kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata, **autogenerate_options(dialect), **kwargs
    )


def run_migrations_offline() -> None:
    url = database_url()
    configure_context(make_url(url).get_backend_name(), url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _migrate(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # PRAGMA foreign_keys is ignored inside a transaction: set it on the raw,
        # autocommitting connection before Alembic begins.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        connection = connection.execution_options(**{WRITE_OPTION: True})
    try:
        configure_context(connection.dialect.name, connection=connection, render_as_batch=sqlite)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def run_migrations_online() -> None:
    engine = create_db_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
