"""A typed Python client for the Trainforge REST API (httpx, synchronous).

    from app.client import Client

    with Client("http://127.0.0.1:8000", api_key="tf_...") as tf:
        dataset = tf.create_dataset("xor", [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0])
        job = tf.submit_job({"model": {...}, "loss": {...}, "optimizer": {...},
                             "epochs": 50}, dataset_id=dataset.id)
        job = job.wait(on_progress=lambda p: print(p.percent, p.loss))
        tf.download_weights(job.id, "model.safetensors")

Every call returns small frozen dataclasses (`Dataset`, `Job`, `Page[...]`, ...). An
error response raises a subclass of `ApiError` (`NotFound`, `Conflict`, `Unauthorized`,
`ValidationFailed`, ...) carrying the API's `code`, `message` and field `errors`; a
network failure raises `ConnectionFailed`. Nothing here imports the server's code.

The modules: `client` (the `Client`), `errors`, `models` (the response types), `sse`
(the live event feed), `wait` (`Job.wait`) and `weights` (checked downloads).
"""

from app.client.client import DEFAULT_URL, Client
from app.client.errors import (
    ApiError,
    BadRequest,
    ChecksumMismatch,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
    WaitTimeout,
    error_from_response,
)
from app.client.models import (
    FINAL_STATUSES,
    ApiKey,
    Checkpoint,
    Dataset,
    Event,
    Job,
    JobError,
    JobProgress,
    LayerReport,
    MetricSeries,
    MetricValue,
    Page,
    Progress,
    StreamMessage,
    Validation,
    Weights,
)

__all__ = [
    "DEFAULT_URL",
    "FINAL_STATUSES",
    "ApiError",
    "ApiKey",
    "BadRequest",
    "Checkpoint",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Dataset",
    "Event",
    "Forbidden",
    "Job",
    "JobError",
    "JobProgress",
    "LayerReport",
    "MetricSeries",
    "MetricValue",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "Progress",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "StreamMessage",
    "Unauthorized",
    "Validation",
    "ValidationFailed",
    "WaitTimeout",
    "Weights",
    "error_from_response",
]
