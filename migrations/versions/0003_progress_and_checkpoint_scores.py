"""Job ETA, and checkpoint epoch, metrics and score (for retention of the best one).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

utc = sa.DateTime(timezone=True)
json_doc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("eta_at", utc, nullable=True))
        batch.add_column(sa.Column("samples_per_second", sa.Float(), nullable=True))
    with op.batch_alter_table("job_checkpoints") as batch:
        batch.add_column(sa.Column("epoch", sa.Integer(), server_default=sa.text("0"),
                                   nullable=False))
        batch.add_column(sa.Column("metrics", json_doc, server_default=sa.text("'{}'"),
                                   nullable=False))
        batch.add_column(sa.Column("score", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_checkpoints") as batch:
        batch.drop_column("score")
        batch.drop_column("metrics")
        batch.drop_column("epoch")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("samples_per_second")
        batch.drop_column("eta_at")
