"""SQLAlchemy ORM models, one module per aggregate. Import from here."""

from app.models.base import Base, UtcDateTime, utcnow
from app.models.dataset import Dataset, DatasetContent
from app.models.job import ACTIVE_STATUSES, Job, JobCheckpoint, JobEvent, JobMetric, JobStatus
from app.models.team import ApiKey, Team
from app.models.worker import Worker as Worker

__all__ = [
    "ACTIVE_STATUSES", "ApiKey", "Base", "Dataset", "DatasetContent", "Job", "JobCheckpoint",
    "JobEvent", "JobMetric", "JobStatus", "Team", "UtcDateTime", "utcnow",
]
