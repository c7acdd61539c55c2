"""The dataset aggregate: metadata row plus its binary content in a separate table.

Content format: two `.npy` records back to back (inputs, then targets), written with
`allow_pickle=False`; `sha256` is the SHA-256 of exactly those bytes. Keeping the bytes
in `dataset_contents` keeps listings from ever loading them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_at, uuid_pk


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (Index(None, "team_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(16))  # json | npy | npz | csv
    rows: Mapped[int] = mapped_column(BigInteger)
    input_shape: Mapped[list[Any]] = mapped_column(JSON)  # per sample, e.g. [3, 32, 32]
    input_dtype: Mapped[str] = mapped_column(String(16))  # float32
    target_shape: Mapped[list[Any]] = mapped_column(JSON)  # per sample, [] for scalars
    target_dtype: Mapped[str] = mapped_column(String(16))  # int64 | float32
    num_classes: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()

    content: Mapped[DatasetContent] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )


class DatasetContent(Base):
    __tablename__ = "dataset_contents"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
