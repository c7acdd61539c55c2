"""Keyset pagination, newest first, with an opaque cursor.

The cursor is the URL-safe base64 of `[created_at, id]` of the last item returned.
Clients must treat it as opaque; a tampered cursor can only move within the caller's
own rows (every query is scoped to the team before paginating).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.errors import ValidationFailed

T = TypeVar("T")
CURSOR_LOC = ("query", "cursor")
MAX_CURSOR_LENGTH = 200


def encode_cursor(created_at: datetime, ident: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), ident.hex], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
            raise ValueError("bad length")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ident = json.loads(raw)
        when = datetime.fromisoformat(created)
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        return when, uuid.UUID(hex=ident)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(CURSOR_LOC, "invalid cursor: pass the `next_cursor` of a "
                               "previous page unchanged", type="cursor_invalid") from exc


def keyset_page(
    session: Session,
    stmt: Select[Any],
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[uuid.UUID],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """One page of `stmt` (a select of ORM entities) ordered newest first.

    Call inside a transaction. Returns the rows and the cursor of the next page (None
    on the last page).
    """
    if cursor is not None:
        after_created, after_id = decode_cursor(cursor)
        stmt = stmt.where(or_(created_col < after_created,
                              and_(created_col == after_created, id_col < after_id)))
    rows = session.scalars(
        stmt.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)
    ).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, created_col.key), getattr(last, id_col.key))


def encode_id_cursor(ident: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([ident]).encode()).rstrip(b"=").decode("ascii")


def decode_id_cursor(cursor: str) -> int:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
            raise ValueError("bad length")
        (ident,) = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if type(ident) is not int or not 0 <= ident < 2**63:
            raise ValueError("bad id")
        return ident
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(CURSOR_LOC, "invalid cursor: pass the `next_cursor` of a "
                               "previous page unchanged", type="cursor_invalid") from exc


def id_page(
    session: Session,
    stmt: Select[Any],
    id_col: InstrumentedAttribute[int],
    *,
    limit: int,
    cursor: str | None,
    descending: bool = False,
) -> tuple[Sequence[Any], str | None]:
    """One page of `stmt` ordered by an integer id (oldest first unless `descending`).

    Call inside a transaction. Returns the rows and the cursor of the next page (None on
    the last page).
    """
    if cursor is not None:
        after = decode_id_cursor(cursor)
        stmt = stmt.where(id_col < after if descending else id_col > after)
    order = id_col.desc() if descending else id_col.asc()
    rows = session.scalars(stmt.order_by(order).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_id_cursor(getattr(rows[limit - 1], id_col.key))
