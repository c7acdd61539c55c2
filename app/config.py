"""Service settings: one `Settings` object read from `TRAINFORGE_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
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
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)
    db_pool_size: int = Field(10, gt=0, description="PostgreSQL connection pool size.")
    db_max_overflow: int = Field(20, ge=0)
    db_connect_timeout_s: int = Field(5, gt=0, description="PostgreSQL connect timeout.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "info"

    @field_validator("admin_token")
    @classmethod
    def _empty_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("the admin token must be at least 16 characters long")
        return value
