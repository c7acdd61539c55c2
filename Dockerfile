# syntax=docker/dockerfile:1
# Trainforge service image (CPU): the API and CPU workers.
#
#   docker build -t trainforge:latest .
#   docker run ... trainforge:latest                                  # the API (default CMD)
#   docker run ... trainforge:latest trainforge worker --device cpu   # a CPU worker
#   docker run ... trainforge:latest trainforge migrate               # migrate, then exit
#
# GPU workers use docker/Dockerfile.gpu. See docs/deploying.md.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: install the project and its dependencies into /opt/venv ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /build
# The dependencies first, from pyproject.toml only, so that code changes reuse this layer.
COPY pyproject.toml README.md ./
RUN /opt/venv/bin/python -c "import tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
COPY engine ./engine
COPY app ./app
# A regular (non-editable) install: the wheel's files go into the venv's site-packages.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
 && /opt/venv/bin/pip check

# ---- runtime: the venv, the migrations, a non-root user; no compilers, no pip cache ----
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRAINFORGE_HOST=0.0.0.0 \
    TRAINFORGE_PORT=8000 \
    TRAINFORGE_DATABASE_URL=sqlite:////data/trainforge.db
RUN groupadd --system --gid 10001 trainforge \
 && useradd --system --uid 10001 --gid trainforge --create-home \
        --home-dir /home/trainforge --shell /usr/sbin/nologin trainforge \
 && mkdir -p /data && chown trainforge:trainforge /data
COPY --from=builder /opt/venv /opt/venv
# app/migrate.py finds the Alembic scripts in ./migrations (the working directory): the
# wheel does not contain them, so they live here and the working directory must stay.
WORKDIR /srv/trainforge
COPY migrations ./migrations
COPY alembic.ini ./
COPY docker/healthcheck.py ./docker/healthcheck.py
USER trainforge:trainforge
EXPOSE 8000
# Liveness of the API (`/healthz`). Worker containers override it (docker-compose.yml):
# `python docker/healthcheck.py db` checks that the database answers.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TRAINFORGE_PORT', '8000'), timeout=4)"]
# The API only; migrations run first unless --no-migrate (they are safe to run
# concurrently). Workers: `trainforge worker --device cpu`.
CMD ["trainforge", "serve", "--host", "0.0.0.0", "--workers", "0"]
