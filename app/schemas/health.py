"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from app.schemas.common import ResponseModel


class Health(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"]


class Ready(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "ready", "revision": "0001"}
    ]})

    status: Literal["ready"]
    revision: str = Field(description="The database's migration revision (= the code's head).")
