"""Initial schema: teams, API keys, datasets, jobs and job metrics/events/checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

json_doc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
bigint_pk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
utc = sa.DateTime(timezone=True)
zero = sa.text("0")


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("last_four", sa.String(length=4), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("last_used_at", utc, nullable=True),
        sa.Column("revoked_at", utc, nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_api_keys_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_team_id_created_at"), "api_keys", ["team_id", "created_at"])

    op.create_table(
        "datasets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("input_shape", sa.JSON(), nullable=False),
        sa.Column("input_dtype", sa.String(length=16), nullable=False),
        sa.Column("target_shape", sa.JSON(), nullable=False),
        sa.Column("target_dtype", sa.String(length=16), nullable=False),
        sa.Column("num_classes", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_datasets_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
    )
    op.create_index(
        op.f("ix_datasets_team_id_created_at_id"), "datasets", ["team_id", "created_at", "id"]
    )
    op.create_table(
        "dataset_contents",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"],
            name=op.f("fk_dataset_contents_dataset_id_datasets"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_dataset_contents")),
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=True),
        sa.Column("validation_dataset_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("labels", json_doc, nullable=False),
        sa.Column("spec", json_doc, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=zero, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=zero, nullable=False),
        sa.Column("lease_expires_at", utc, nullable=True),
        sa.Column("lease_epoch", sa.Integer(), server_default=zero, nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("step", sa.BigInteger(), server_default=zero, nullable=False),
        sa.Column("total_steps", sa.BigInteger(), nullable=True),
        sa.Column("epoch", sa.Integer(), server_default=zero, nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("started_at", utc, nullable=True),
        sa.Column("finished_at", utc, nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"],
            name=op.f("fk_jobs_dataset_id_datasets"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_jobs_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["validation_dataset_id"], ["datasets.id"],
            name=op.f("fk_jobs_validation_dataset_id_datasets"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint(
            "team_id", "idempotency_key", name=op.f("uq_jobs_team_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_jobs_dataset_id"), "jobs", ["dataset_id"])
    op.create_index(op.f("ix_jobs_validation_dataset_id"), "jobs", ["validation_dataset_id"])
    op.create_index(
        op.f("ix_jobs_status_lease_expires_at"), "jobs", ["status", "lease_expires_at"]
    )
    op.create_index(op.f("ix_jobs_team_id_created_at_id"), "jobs", ["team_id", "created_at", "id"])
    queued = sa.text("status = 'queued'")
    op.create_index(
        "ix_jobs_queue", "jobs", [sa.text("priority DESC"), "created_at", "id"],
        postgresql_where=queued, sqlite_where=queued,
    )

    op.create_table(
        "job_metrics",
        sa.Column("id", bigint_pk, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_metrics_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_metrics")),
        sa.UniqueConstraint("job_id", "name", "step", name=op.f("uq_job_metrics_job_id_name_step")),
    )
    op.create_table(
        "job_events",
        sa.Column("id", bigint_pk, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payload", json_doc, nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_events_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_events")),
    )
    op.create_index(op.f("ix_job_events_job_id_id"), "job_events", ["job_id", "id"])
    op.create_table(
        "job_checkpoints",
        sa.Column("id", bigint_pk, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("uri", sa.String(length=1024), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.CheckConstraint(
            "(data IS NULL) <> (uri IS NULL)", name=op.f("ck_job_checkpoints_data_or_uri")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_checkpoints_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_checkpoints")),
    )
    op.create_index(op.f("ix_job_checkpoints_job_id_step"), "job_checkpoints", ["job_id", "step"])


def downgrade() -> None:
    for table in ("job_checkpoints", "job_events", "job_metrics", "jobs", "dataset_contents",
                  "datasets", "api_keys", "teams"):
        op.drop_table(table)  # drops the table's indexes with it
