"""Pydantic request/response models. Requests derive from `RequestModel` (strict)."""

from app.schemas.common import ErrorResponse, Name, RequestModel, ResponseModel, Text
from app.schemas.datasets import DatasetCreate, DatasetOut, DatasetPage
from app.schemas.job_outputs import CheckpointPage, JobEventPage, MetricsOut
from app.schemas.jobs import JobCreate, JobOut, JobPage, JobSummary, JobValidation
from app.schemas.teams import KeyCreate, KeyCreated, KeyList, KeyOut, TeamCreate, TeamCreated

__all__ = [
    "CheckpointPage", "DatasetCreate", "DatasetOut", "DatasetPage", "ErrorResponse",
    "JobCreate", "JobEventPage", "JobOut", "JobPage", "JobSummary", "JobValidation",
    "KeyCreate", "KeyCreated", "KeyList", "KeyOut", "MetricsOut", "Name", "RequestModel",
    "ResponseModel", "TeamCreate", "TeamCreated", "Text",
]
