"""Scratch PostgreSQL databases and free ports for the service benchmarks.

The PostgreSQL server comes from TRAINFORGE_BENCH_POSTGRES_URL (default: the local
server's `postgres` user and database).
"""

from __future__ import annotations

import os
import socket

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("TRAINFORGE_BENCH_POSTGRES_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")


def create_database(name: str) -> str:
    """A fresh, empty database `name` (dropped first if it exists); returns its URL."""
    drop_database(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
