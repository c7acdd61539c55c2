"""The team aggregate: a team and its API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = created_at()


class ApiKey(Base):
    """A team's API key. Only the SHA-256 of the key is stored, never the key itself."""

    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "team_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256
    prefix: Mapped[str] = mapped_column(String(16))  # e.g. "tf_AbCd", not secret
    last_four: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = created_at()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
