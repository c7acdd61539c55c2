"""`/healthz` (process up) and `/readyz` (database reachable and migrated). No auth."""

from __future__ import annotations

from app.api.deps import DatabaseDep
from app.api.routing import api_router
from app.schemas.common import error_responses
from app.schemas.health import Health, Ready
from app.services.health import check_ready

router = api_router(tags=["health"])


@router.get("/healthz", summary="Liveness",
            description="The process is up and serving. Does not touch the database.")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="Readiness", responses=error_responses(503),
            description="200 when the database is reachable and migrated to the revision "
            "this code expects; 503 otherwise (`database_unreachable`, `not_migrated`).")
def readyz(db: DatabaseDep) -> Ready:
    return Ready(status="ready", revision=check_ready(db))
