"""Pydantic request/response models. Requests derive from `RequestModel` (strict)."""

from app.schemas.common import ErrorResponse, Name, RequestModel, ResponseModel, Text
from app.schemas.datasets import DatasetCreate, DatasetOut, DatasetPage
from app.schemas.teams import KeyCreate, KeyCreated, KeyList, KeyOut, TeamCreate, TeamCreated

__all__ = [
    "DatasetCreate", "DatasetOut", "DatasetPage", "ErrorResponse", "KeyCreate", "KeyCreated",
    "KeyList", "KeyOut", "Name", "RequestModel", "ResponseModel", "TeamCreate", "TeamCreated",
    "Text",
]
