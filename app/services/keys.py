"""API keys: generation, hashing, authentication and management.

A key is `tf_` + `secrets.token_urlsafe(32)` (256 random bits). Only its SHA-256 is
stored, with a short non-secret prefix and the last four characters for display. A
presented key is hashed, looked up by hash, and the hashes are compared with
`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, join, select, update
from sqlalchemy.orm import Session

from app.db import HotRead, transaction, write_connection
from app.errors import Conflict, Forbidden, NotFound, Unauthorized
from app.models import ApiKey, Team, utcnow

KEY_PREFIX = "tf_"
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 4
MAX_PRESENTED_KEY_LENGTH = 256


@dataclass(frozen=True)
class Principal:
    """Who is calling: the team and the key it authenticated with."""

    team_id: uuid.UUID
    team_name: str
    key_id: uuid.UUID


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: the stored record and the secret, shown once."""

    record: ApiKey
    secret: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key(team_id: uuid.UUID, name: str | None) -> NewKey:
    """Build (not persist) a key for `team_id`."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        id=uuid.uuid4(), team_id=team_id, name=name, key_hash=hash_key(secret),
        prefix=secret[:DISPLAY_PREFIX_LENGTH], last_four=secret[-4:], created_at=utcnow(),
    )
    return NewKey(record=record, secret=secret)


# The active key's row joined with its team. `authenticate` runs it alone; a hot read
# outer-joins its object to it, so that one statement authenticates and reads (see
# `app.services.jobs.read_job`). Built once: building a statement costs more than
# running it. Every request looks the key up in the database (no in-process cache), so a
# revoked key is refused on its next request by every API process.
AUTH_COLUMNS = (ApiKey.id.label("auth_key_id"), ApiKey.key_hash.label("auth_key_hash"),
                ApiKey.last_used_at.label("auth_last_used_at"),
                Team.id.label("auth_team_id"), Team.name.label("auth_team_name"))
AUTH_FROM = join(ApiKey, Team, Team.id == ApiKey.team_id)
AUTH_WHERE = and_(ApiKey.key_hash == bindparam("digest"), ApiKey.revoked_at.is_(None))
_ACTIVE_KEY = HotRead(select(*AUTH_COLUMNS).select_from(AUTH_FROM).where(AUTH_WHERE))
_TOUCH = (update(ApiKey.__table__).where(ApiKey.__table__.c.id == bindparam("key_id"))
          .values(last_used_at=bindparam("now")))


def digest_of(presented: str | None) -> str:
    """The SHA-256 looked up for a presented key; Unauthorized when it cannot be a key."""
    if not presented or len(presented) > MAX_PRESENTED_KEY_LENGTH:
        raise Unauthorized("invalid or revoked API key")
    return hash_key(presented)


def principal_of(engine: Engine, row: Any, digest: str, *,
                 touch_interval_s: float) -> Principal:
    """The principal of a row holding `AUTH_COLUMNS` (None: no active key has this hash);
    Unauthorized unless the stored hash equals `digest` (constant-time). Writes the key's
    `last_used_at` when it is older than `touch_interval_s`."""
    if row is None or not hmac.compare_digest(row.auth_key_hash, digest):
        raise Unauthorized("invalid or revoked API key")
    last_used_at = row.auth_last_used_at
    now = utcnow()
    if last_used_at is None or now - last_used_at >= timedelta(seconds=touch_interval_s):
        with write_connection(engine) as conn:
            conn.execute(_TOUCH, {"key_id": row.auth_key_id, "now": now})
    return Principal(team_id=row.auth_team_id, team_name=row.auth_team_name,
                     key_id=row.auth_key_id)


def authenticate(bind: Session | Engine, presented: str | None, *,
                 touch_interval_s: float) -> Principal:
    """The principal for a presented key; Unauthorized if unknown or revoked."""
    digest = digest_of(presented)
    engine = bind if isinstance(bind, Engine) else bind.get_bind()
    row = _ACTIVE_KEY.first(engine, {"digest": digest})
    return principal_of(engine, row, digest, touch_interval_s=touch_interval_s)


def create_key(
    session: Session, team_id: uuid.UUID, name: str | None, *, max_keys: int
) -> NewKey:
    key = new_key(team_id, name)
    with transaction(session, write=True):
        active = session.scalar(
            select(func.count()).select_from(ApiKey)
            .where(ApiKey.team_id == team_id, ApiKey.revoked_at.is_(None))
        )
        if active >= max_keys:
            raise Conflict(f"the team already has {active} active keys (the limit); "
                           "revoke one first", code="too_many_keys")
        session.add(key.record)
    return key


def list_keys(session: Session, team_id: uuid.UUID) -> list[ApiKey]:
    """The team's active keys, newest first."""
    with transaction(session):
        return list(session.scalars(
            select(ApiKey)
            .where(ApiKey.team_id == team_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        ))


def revoke_key(session: Session, team_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """Revoke one of the team's keys; the last active key cannot be revoked."""
    with transaction(session, write=True):
        keys = session.scalars(
            select(ApiKey)
            .where(ApiKey.team_id == team_id, ApiKey.revoked_at.is_(None))
            .with_for_update()
        ).all()
        target = next((k for k in keys if k.id == key_id), None)
        if target is None:
            raise NotFound("API key not found")
        if len(keys) == 1:
            raise Conflict("this is the team's last active key; create another key "
                           "before revoking it", code="last_key")
        target.revoked_at = utcnow()


def check_admin_token(configured: str | None, presented: str | None) -> None:
    """Admit the admin token; Forbidden when none is configured."""
    if configured is None:
        raise Forbidden("team creation over HTTP is disabled: set TRAINFORGE_ADMIN_TOKEN, or "
                        "run `trainforge team create NAME`", code="admin_disabled")
    if presented is None or not hmac.compare_digest(
        hash_key(presented), hash_key(configured)
    ):
        raise Unauthorized("invalid admin token")
