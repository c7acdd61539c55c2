"""Service settings: one `Settings` object read from `TRAINFORGE_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Everything configurable about the service. Each field reads `TRAINFORGE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="TRAINFORGE_", extra="ignore", frozen=True)

    database_url: str = Field(
        "sqlite:///./trainforge.db",
        description="SQLAlchemy URL. `sqlite:///path.db` (embedded default) or "
        "`postgresql://user@host/db` (the psycopg 3 driver is selected automatically).",
    )
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for `POST /v1/teams`. Unset: team creation over HTTP "
        "is disabled (use `trainforge team create`)."
    )
    max_body_bytes: int = Field(100 * MiB, gt=0, description="Largest accepted request body.")
    max_dataset_values: int = Field(
        10_000_000, gt=0, description="Most numbers (inputs plus targets) in one dataset."
    )
    max_array_dims: int = Field(8, ge=1, le=32, description="Most dimensions of an array, "
                                "the sample axis included.")
    max_keys_per_team: int = Field(100, gt=0, description="Most active API keys per team.")
    key_touch_interval_s: float = Field(
        60.0, ge=0, description="`last_used_at` of a key is written at most this often."
    )
    max_model_parameters: int = Field(
        50_000_000, gt=0, description="Most parameters a job's model may have."
    )
    max_training_memory_bytes: int = Field(
        16 * 1024 * MiB, gt=0, description="Most estimated training memory of a job: weights, "
        "gradients, optimizer state and one batch's activations.",
    )
    max_validation_memory_bytes: int = Field(
        512 * MiB, gt=0, description="Most memory the API may use for the activations of "
        "the two-sample forward pass that checks a spec (larger models are refused).",
    )
    max_model_layers: int = Field(512, gt=0, description="Most layers in a model, nested "
                                  "ones included.")
    max_model_depth: int = Field(8, ge=0, description="Deepest nesting of Sequential/Residual "
                                 "blocks.")
    default_checkpoint_every_steps: int = Field(
        1000, gt=0, description="Checkpoint interval of a job that does not set one."
    )
    lease_seconds: float = Field(
        30.0, gt=0, description="How long a worker's claim on a job lasts without a "
        "heartbeat; a job whose lease expires goes back to the queue (its worker is "
        "presumed lost).")
    heartbeat_seconds: float = Field(
        5.0, gt=0, description="How often a worker renews its lease (and sees a "
        "cancellation). Keep it well below `lease_seconds`.")
    max_attempts: int = Field(
        3, ge=1, description="Lost attempts (expired leases) after which a job fails "
        "with `worker_lost` instead of going back to the queue.")
    poll_seconds: float = Field(
        0.5, gt=0, description="How often an idle worker looks for a job (PostgreSQL "
        "also wakes it at once with LISTEN/NOTIFY).")
    reap_interval_seconds: float = Field(
        5.0, gt=0, description="How often the API and each worker return jobs with "
        "expired leases to the queue.")
    epoch_checkpoint_min_interval_seconds: float = Field(
        30.0, ge=0, description="An epoch's end is checkpointed only when the job's last "
        "checkpoint is at least this old (0: every epoch), so that jobs with short epochs "
        "train instead of checkpointing; a crash then loses at most this much work. "
        "A spec's `checkpoint_every_steps` is always honoured.")
    checkpoints_kept: int = Field(
        3, ge=1, description="Resumable checkpoints kept per job: the latest this many, "
        "plus the best by the validation metric.")
    max_job_runtime_seconds: int = Field(
        7 * 86_400, gt=0, description="Longest `max_runtime_seconds` a job may ask for, and "
        "the limit of a job that does not set one.",
    )
    api_threads: int = Field(
        4, ge=1, le=256, description="Threads running the API's blocking work (database "
        "calls, spec validation, large body parsing). The work is mostly CPU under one "
        "GIL: more threads only overlap database latency (raise it for a distant "
        "database), and under load they interleave requests and stretch tail latency. "
        "Keep it at most `db_pool_size`. Scale out with more processes instead.",
    )
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)
    db_pool_size: int = Field(10, gt=0, description="PostgreSQL connection pool size.")
    db_max_overflow: int = Field(20, ge=0)
    db_connect_timeout_s: int = Field(5, gt=0, description="PostgreSQL connect timeout.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = Field("info", pattern=r"^(debug|info|warning|error|critical)$")
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object a line, with request, worker and job "
        "ids on every line.")
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at "
                                  "`/metrics` (unauthenticated, like `/healthz`).")

    @field_validator("admin_token")
    @classmethod
    def _empty_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("the admin token must be at least 16 characters long")
        return value

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Settings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(f"heartbeat_seconds ({self.heartbeat_seconds}) must be at most "
                             f"half of lease_seconds ({self.lease_seconds})")
        return self


def default_of(name: str) -> object:
    """A setting's default, for code that takes the value as an argument.

    >>> default_of("lease_seconds")
    30.0
    """
    return Settings.model_fields[name].default
