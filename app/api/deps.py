"""Typed FastAPI dependencies: settings, database session, the calling team, admin."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database
from app.errors import Unauthorized
from app.services import keys
from app.services.arrays import ArrayLimits
from app.services.datasets import limits_from
from app.services.keys import Principal

T = TypeVar("T")

team_key_scheme = HTTPBearer(
    scheme_name="TeamKey", auto_error=False,
    description="A team API key (`tf_...`): `Authorization: Bearer <key>`. Create a team "
    "and its first key with `trainforge team create NAME` or `POST /v1/teams`.",
)
admin_token_scheme = HTTPBearer(
    scheme_name="AdminToken", auto_error=False,
    description="The admin token (`TRAINFORGE_ADMIN_TOKEN`), only for `POST /v1/teams`.",
)


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


async def in_thread(settings: Settings, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on a worker thread, for the blocking work of the hot routes (database
    calls). asyncio's executor hands work to its threads through a C queue and costs
    about half as much per call as anyio's pool (`run_in_threadpool`, FastAPI's sync
    routes and dependencies). One executor per process, of `api_threads` threads."""
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(settings.api_threads,
                                               thread_name_prefix="trainforge-api")
    return await asyncio.get_running_loop().run_in_executor(_executor, fn, *args)


# The cheap dependencies are `async def`: FastAPI runs a sync dependency in the thread
# pool, and every hop there costs more than these functions themselves.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.db


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for this request; services open and close its transactions (which return
    its connection to the pool), so creating and closing it does no I/O."""
    session = request.app.state.db.session()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(team_key_scheme)]
AdminBearer = Annotated[HTTPAuthorizationCredentials | None, Depends(admin_token_scheme)]


async def current_team(request: Request, credentials: Bearer) -> Principal:
    """The team whose API key is in `Authorization: Bearer`; 401 otherwise. (It runs on
    every request: no Session, one trip to the thread pool for the key's look-up.)"""
    if credentials is None:
        raise Unauthorized()
    settings: Settings = request.app.state.settings
    return await in_thread(settings, partial(
        keys.authenticate, request.app.state.db.engine, credentials.credentials,
        touch_interval_s=settings.key_touch_interval_s))


async def require_admin(settings: SettingsDep, credentials: AdminBearer) -> None:
    """The admin token; 403 when none is configured, 401 when wrong or missing."""
    configured = settings.admin_token.get_secret_value() if settings.admin_token else None
    keys.check_admin_token(configured, credentials.credentials if credentials else None)


async def get_limits(settings: SettingsDep) -> ArrayLimits:
    return limits_from(settings)


CurrentTeam = Annotated[Principal, Depends(current_team)]
AdminDep = Depends(require_admin)
LimitsDep = Annotated[ArrayLimits, Depends(get_limits)]
