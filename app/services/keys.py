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

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from app.db import read_connection, transaction
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


# Built once: this runs on every request, and building the statement costs more than
# running it.
_ACTIVE_KEY = (
    select(ApiKey.id, ApiKey.key_hash, ApiKey.last_used_at, Team.id, Team.name)
    .join(Team, Team.id == ApiKey.team_id)
    .where(ApiKey.key_hash == bindparam("digest"), ApiKey.revoked_at.is_(None))
)


def authenticate(session: Session, presented: str, *, touch_interval_s: float) -> Principal:
    """The principal for a presented key; Unauthorized if unknown or revoked."""
    if not presented or len(presented) > MAX_PRESENTED_KEY_LENGTH:
        raise Unauthorized("invalid or revoked API key")
    digest = hash_key(presented)
    with read_connection(session) as conn:
        row = conn.execute(_ACTIVE_KEY, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row[1], digest):
        raise Unauthorized("invalid or revoked API key")
    key_id, _, last_used_at, team_id, team_name = row
    now = utcnow()
    if last_used_at is None or now - last_used_at >= timedelta(seconds=touch_interval_s):
        with transaction(session, write=True):
            session.execute(
                update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
            )
    return Principal(team_id=team_id, team_name=team_name, key_id=key_id)


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
