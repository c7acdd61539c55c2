"""`POST /v1/teams`: create a team and its first key (admin token)."""

from __future__ import annotations

from app.api.deps import AdminDep, SessionDep
from app.api.routing import api_router
from app.schemas.common import error_responses
from app.schemas.teams import KeyCreated, TeamCreate, TeamCreated, TeamOut
from app.services import teams

router = api_router(prefix="/v1/teams", tags=["teams"])


@router.post(
    "", status_code=201, dependencies=[AdminDep], summary="Create a team",
    responses=error_responses(401, 403, 409, 413, 422),
    description="Creates a team and its first API key, returned once in `key.key` (only "
    "its hash is stored). Needs the admin token (`TRAINFORGE_ADMIN_TOKEN`) as the bearer "
    "token; 403 when the server has none configured.",
)
def create_team(body: TeamCreate, session: SessionDep) -> TeamCreated:
    team, key = teams.create_team(session, body.name)
    return TeamCreated(team=TeamOut.model_validate(team),
                       key=KeyCreated.of(key.record, key.secret))
