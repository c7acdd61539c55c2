"""Container health checks (exit 0: healthy, 1: unhealthy), for images that have no curl.

    python docker/healthcheck.py api   GET http://127.0.0.1:$TRAINFORGE_PORT/healthz
    python docker/healthcheck.py db    the configured database (TRAINFORGE_DATABASE_URL)
                                       answers `SELECT 1`: used for workers, which serve no
                                       HTTP; a worker container lives as long as its
                                       worker process, so "alive" needs no check of its own
"""

from __future__ import annotations

import os
import sys


def check_api() -> None:
    import urllib.request

    port = os.environ.get("TRAINFORGE_PORT", "8000")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")


def check_db() -> None:
    from sqlalchemy import text

    from app.config import Settings
    from app.db import create_db_engine

    settings = Settings()
    engine = create_db_engine(settings.database_url, pool_size=1, max_overflow=0,
                              connect_timeout_s=4)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def main(argv: list[str]) -> int:
    checks = {"api": check_api, "db": check_db}
    if len(argv) != 1 or argv[0] not in checks:
        print(f"usage: healthcheck.py {{{'|'.join(checks)}}}", file=sys.stderr)
        return 2
    try:
        checks[argv[0]]()
    except Exception as exc:  # any failure is "unhealthy"; say why in `docker inspect`
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
