"""Many workers on one PostgreSQL database: 4 worker processes drain 100 tiny jobs; every
job succeeds exactly once, no two leases on a job overlap, no metric step is written
twice (all checked with SQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import text

from tests.app.conftest import ScratchDatabase, TeamHandle
from tests.app.helpers import create_dataset, mlp_job, submit
from tests.app.worker_helpers import ROOT

JOBS, WORKERS = 100, 4


def test_four_workers_drain_a_hundred_jobs_exactly_once(
        client: Any, team: TeamHandle, database: ScratchDatabase, database_url: str) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("workers on several processes share PostgreSQL; SQLite serves one")
    dataset_id = create_dataset(client, team.headers)
    for i in range(JOBS):
        submit(client, team.headers, mlp_job(dataset_id, epochs=1, seed=i,
                                             priority=i % 3))
    env = {**os.environ, "TRAINFORGE_DATABASE_URL": database_url}
    workers = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--once",
                                 "--device", "cpu", "--name", f"w{i}"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for i in range(WORKERS)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0] * WORKERS, outputs

    with database.engine.connect() as conn:
        def scalar(sql: str) -> Any:
            return conn.execute(text(sql)).scalar()

        def rows(sql: str) -> list[Any]:
            return list(conn.execute(text(sql)))

        assert scalar("SELECT count(*) FROM jobs WHERE status = 'succeeded' "
                      "AND attempts = 1") == JOBS
        assert rows("SELECT job_id FROM job_events WHERE type = 'succeeded' "
                    "GROUP BY job_id HAVING count(*) <> 1") == []
        assert scalar("SELECT count(DISTINCT job_id) FROM job_events "
                      "WHERE type = 'succeeded'") == JOBS
        # Leases: one claim per job, and each lease's writes stayed within its epoch.
        assert rows("SELECT job_id FROM job_events WHERE type = 'claimed' "
                    "GROUP BY job_id HAVING count(*) <> 1") == []
        assert rows("""
            SELECT a.job_id FROM job_events a JOIN job_events b
              ON a.job_id = b.job_id AND a.type = 'claimed' AND b.type = 'claimed'
             AND a.id < b.id
             WHERE NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = a.job_id
                               AND e.id > a.id AND e.id < b.id
                               AND e.type IN ('released', 'lease_expired'))""") == []
        assert rows("SELECT job_id, name, step FROM job_metrics "
                    "GROUP BY job_id, name, step HAVING count(*) > 1") == []
        assert scalar("SELECT count(*) FROM job_checkpoints WHERE kind = 'weights'") == JOBS
        busy = scalar("SELECT count(DISTINCT payload->>'worker_id') FROM job_events "
                      "WHERE type = 'claimed'")
    assert busy >= 2, "the jobs were not shared between the workers"
