"""`/v1/keys`: the calling team's API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Body, Depends

from app.api.deps import CurrentTeam, SessionDep, SettingsDep, current_team
from app.api.routing import api_router
from app.schemas.common import error_responses
from app.schemas.teams import KeyCreate, KeyCreated, KeyList, KeyOut
from app.services import keys

# Router-level auth runs before any other dependency; `CurrentTeam` reuses its result.
router = api_router(prefix="/v1/keys", tags=["keys"], responses=error_responses(401),
                    dependencies=[Depends(current_team)])


@router.post("", status_code=201, summary="Create an API key",
             responses=error_responses(409, 413, 422),
             description="A new key for the calling team. The secret is in `key`, shown "
             "once. The body is optional. 409 `too_many_keys` past the per-team limit.")
def create_key(principal: CurrentTeam, session: SessionDep, settings: SettingsDep,
               body: Annotated[KeyCreate | None, Body(examples=[{"name": "ci"}])] = None,
               ) -> KeyCreated:
    name = body.name if body else None
    key = keys.create_key(session, principal.team_id, name, max_keys=settings.max_keys_per_team)
    return KeyCreated.of(key.record, key.secret)


@router.get("", summary="List API keys",
            description="The team's active keys, newest first: never the secret, only its "
            "prefix and last four characters. `current` marks the key of this request.")
def list_keys(principal: CurrentTeam, session: SessionDep) -> KeyList:
    items = [KeyOut.model_validate(k).model_copy(update={"current": k.id == principal.key_id})
             for k in keys.list_keys(session, principal.team_id)]
    return KeyList(items=items)


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key",
               responses=error_responses(404, 409, 422),
               description="Revokes the key at once: its next request gets 401. 409 "
               "`last_key` for the team's only active key (create another first).")
def revoke_key(key_id: uuid.UUID, principal: CurrentTeam, session: SessionDep) -> None:
    keys.revoke_key(session, principal.team_id, key_id)
