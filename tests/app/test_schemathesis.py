"""Property-based API test from the app's own OpenAPI document (schemathesis, in-process
over ASGI, SQLite only to stay fast): for every operation, valid and invalid generated
requests never get a server error, and every response matches the documented status
codes, content types, headers and schemas.

Bounded: a fixed number of examples per operation, no shrinking, derandomized (the same
cases on every run), so it takes about 15 s on one core.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.main import create_app
from app.models import Dataset, DatasetContent, JobCheckpoint, JobMetric, utcnow
from app.schemas.jobs import CREATE_EXAMPLE
from app.services import arrays
from tests.app.conftest import (
    ADMIN_TOKEN,
    ScratchDatabase,
    TestClient,
    create_team,
    make_settings,
)
from tests.app.helpers import XOR, mlp_job

# TRAINFORGE_FUZZ_EXAMPLES=500 runs a deeper, randomized search locally.
EXAMPLES_PER_OPERATION = int(os.environ.get("TRAINFORGE_FUZZ_EXAMPLES", "50"))
DERANDOMIZE = "TRAINFORGE_FUZZ_EXAMPLES" not in os.environ
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
_headers: dict[str, dict[str, str]] = {}
_objects: dict[str, str] = {}


def _seed(client: TestClient, database: ScratchDatabase, headers: dict[str, str],
          team_id: str) -> dict[str, str]:
    """Objects for the lists and reads to return (a job with metrics, a checkpoint and
    weights), and the dataset the documented job example names, so generated requests
    reach the success paths too. Returns the path parameters naming them."""
    data = arrays.from_json(XOR["inputs"], XOR["targets"], arrays.ArrayLimits(10**6, 8))
    content = arrays.encode(data)
    dataset_id = uuid.UUID(CREATE_EXAMPLE["dataset_id"])
    with database.engine.begin() as conn:
        conn.execute(Dataset.__table__.insert(), [{
            "id": dataset_id, "team_id": uuid.UUID(team_id), "name": "example",
            "format": "json", "rows": data.rows, "input_shape": [2], "input_dtype": "float32",
            "target_shape": [], "target_dtype": "int64", "num_classes": 2,
            "size_bytes": len(content), "sha256": "0" * 64, "created_at": utcnow()}])
        conn.execute(DatasetContent.__table__.insert(), [{"dataset_id": dataset_id,
                                                          "data": content}])
    job = client.post("/v1/jobs", json=mlp_job(str(dataset_id)), headers=headers)
    assert job.status_code == 201, job.text
    job_id, now = uuid.UUID(job.json()["id"]), utcnow()
    with database.engine.begin() as conn:
        conn.execute(JobMetric.__table__.insert(), [
            {"job_id": job_id, "name": "train_loss", "step": step, "value": 1.0 / step,
             "created_at": now} for step in range(1, 30)])
        conn.execute(JobCheckpoint.__table__.insert(), [
            {"job_id": job_id, "step": 29, "kind": "weights", "sha256": "0" * 64,
             "size_bytes": 3, "data": b"abc", "uri": None, "created_at": now}])
    return {"job_id": str(job_id), "dataset_id": str(dataset_id)}


@pytest.fixture(scope="module")
def api_schema(sqlite_database: ScratchDatabase) -> Iterator[Any]:
    """The schema of an app on the SQLite test database, seeded once per module (the
    generated requests may add to it; nothing here depends on exact contents)."""
    sqlite_database.empty()
    app = create_app(make_settings(sqlite_database.url))
    with TestClient(app) as client:
        team = create_team(client, "fuzz")
        _objects.update(_seed(client, sqlite_database, team.headers, team.id))
        _headers["team"] = team.headers
        _headers["admin"] = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    _headers.clear()
    _objects.clear()


def _operations() -> list[tuple[str, str, bool]]:
    """(method, path, takes input) of every operation, known at collection: the document
    does not depend on the database."""
    paths = create_app(Settings(database_url="sqlite://")).openapi()["paths"]
    return [(method.upper(), path, bool(op.get("parameters") or op.get("requestBody")))
            for path, item in paths.items() for method, op in item.items()]


OPERATIONS = _operations()


@pytest.mark.parametrize(("method", "path", "takes_input"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_api_conforms_to_its_openapi_document(api_schema: Any, method: str, path: str,
                                              takes_input: bool) -> None:
    operation = api_schema[path][method]
    # The header hook: every generated request carries the test team's key (the admin
    # token for team creation), so generation explores past authentication.
    auth = _headers["admin"] if path == "/v1/teams" else _headers["team"]
    strategy = operation.as_strategy(GenerationMode.POSITIVE, headers=auth)
    if takes_input:  # requests that break the schema too (a negative case needs an input)
        strategy |= operation.as_strategy(GenerationMode.NEGATIVE, headers=auth)
    named = {name: value for name, value in _objects.items() if f"{{{name}}}" in path}
    if named:  # also on the seeded objects, not only on random (missing) ids
        strategy |= operation.as_strategy(GenerationMode.POSITIVE, headers=auth,
                                          path_parameters=named)

    @given(case=strategy)
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=DERANDOMIZE,
              database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    check()
