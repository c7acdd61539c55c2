"""Schema migrations (Alembic) driven from Python: upgrade, and "is the database at head".

The schema is created only by the migrations in `migrations/`; nothing calls
`metadata.create_all`.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Engine

from app.errors import AppError
from app.models import UtcDateTime

# Next to the `app` package in a checkout or editable install; else where a wheel
# installs them (<prefix>/share/trainforge/migrations); else ./migrations.
_CANDIDATES = (Path(__file__).resolve().parent.parent / "migrations",
               Path(sys.prefix) / "share" / "trainforge" / "migrations", Path("migrations"))
MIGRATIONS_DIR = next((p.resolve() for p in _CANDIDATES if (p / "env.py").is_file()),
                      _CANDIDATES[0])
# SQLite reflection loses index column direction and partial-index WHERE clauses, so
# autogenerate compares these indexes on PostgreSQL only.
SQLITE_UNREFLECTABLE_INDEXES = frozenset({"ix_jobs_queue"})


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config for `migrations/`; `database_url` None means the settings' URL."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise AppError(f"the migrations are not installed (looked in "
                       f"{', '.join(str(p) for p in _CANDIDATES)})", code="not_installed")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Migrate the database to `revision` (safe to run concurrently: migrations lock)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


@lru_cache(maxsize=1)
def head_revisions() -> tuple[str, ...]:
    """The revision(s) the migration scripts lead to."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """The revision(s) the database is at; empty for a database never migrated."""
    with engine.connect() as connection:
        return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def is_at_head(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()


def autogenerate_options(dialect: str) -> dict[str, Any]:
    """Options for Alembic's autogenerate/compare on `dialect` (env.py and the tests)."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                       compare_to: Any) -> bool:
        skip = dialect == "sqlite" and type_ == "index" and name in SQLITE_UNREFLECTABLE_INDEXES
        return not skip

    return {"compare_type": True, "include_object": include_object, "render_item": _render_item}


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render app-specific types as plain SQLAlchemy types in generated migrations."""
    if type_ != "type":
        return False
    if isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, JSON) and "postgresql" in getattr(obj, "_variant_mapping", {}):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False
