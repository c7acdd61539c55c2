"""Teams and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from app.schemas.common import Name, RequestModel, ResponseModel

_KEY_EXAMPLE = {
    "id": "3f0c6a8e-2b1d-4c55-9d0e-8a1f2b3c4d5e", "name": "ci",
    "prefix": "tf_Q2xh", "last_four": "x9Zk",
    "created_at": "2026-01-01T12:00:00Z", "last_used_at": None, "current": False,
}
_SECRET = "tf_Q2xhc3NpZmllcg4xYmU1ZTBlNGY2ZjQ1Y2E0YjZlZTE0x9Zk"


class TeamCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "vision-lab"}]})

    name: Name = Field(description="Unique team name.")


class KeyCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "ci"}]})

    name: Name | None = Field(None, description="Optional label to tell keys apart.")


class TeamOut(ResponseModel):
    id: uuid.UUID
    name: str
    created_at: datetime


class KeyOut(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: uuid.UUID
    name: str | None
    prefix: str = Field(description="First characters of the key (not secret).")
    last_four: str = Field(description="Last four characters of the key.")
    created_at: datetime
    last_used_at: datetime | None
    current: bool = Field(False, description="True for the key that made this request.")


class KeyCreated(KeyOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{**_KEY_EXAMPLE, "key": _SECRET}]})

    key: str = Field(description="The secret key. Shown once: only its hash is stored.")

    @classmethod
    def of(cls, record: object, secret: str) -> KeyCreated:
        """From an ApiKey row and its secret."""
        return cls(**KeyOut.model_validate(record).model_dump(), key=secret)


class KeyList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_KEY_EXAMPLE]}]})

    items: list[KeyOut]


class TeamCreated(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "team": {"id": "0b7e3c1a-5f2d-4e8b-9a6c-1d2e3f4a5b6c", "name": "vision-lab",
                 "created_at": "2026-01-01T12:00:00Z"},
        "key": {**_KEY_EXAMPLE, "name": "initial", "key": _SECRET},
    }]})

    team: TeamOut
    key: KeyCreated
