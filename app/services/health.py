"""Readiness: the database answers and is migrated to the code's head revision."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from app.db import Database
from app.errors import ServiceUnavailable
from app.migrate import current_revisions, head_revisions


def check_ready(db: Database) -> str:
    """The current revision; ServiceUnavailable when unreachable or not at head."""
    try:
        current = current_revisions(db.engine)
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}",
                                 code="database_unreachable") from exc
    head = head_revisions()
    if current != head:
        raise ServiceUnavailable(
            f"database is at revision {', '.join(current) or 'none'} but the code expects "
            f"{', '.join(head)}: run `trainforge migrate`", code="not_migrated")
    return ", ".join(current)
