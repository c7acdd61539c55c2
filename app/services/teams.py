"""Teams: creation (with the first key) and lookup."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import transaction
from app.errors import Conflict, NotFound
from app.models import Team, utcnow
from app.services.keys import NewKey, new_key


def create_team(session: Session, name: str, *, key_name: str = "initial") -> tuple[Team, NewKey]:
    """Create a team and its first API key in one transaction."""
    team = Team(id=uuid.uuid4(), name=name, created_at=utcnow())
    key = new_key(team.id, key_name)
    try:
        with transaction(session, write=True):
            if session.scalar(select(Team.id).where(Team.name == name)) is not None:
                raise Conflict(f"a team named {name!r} already exists", code="team_exists")
            session.add(team)
            session.flush()
            session.add(key.record)
    except IntegrityError as exc:  # a concurrent create won the race
        raise Conflict(f"a team named {name!r} already exists", code="team_exists") from exc
    return team, key


def get_team_by_name(session: Session, name: str) -> Team:
    with transaction(session):
        team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise NotFound(f"no team named {name!r}")
    return team


def count_teams(session: Session) -> int:
    with transaction(session):
        return session.scalar(select(func.count()).select_from(Team)) or 0
