"""One router per resource. Every router is built with `app.api.routing.api_router`."""

from app.api.routes import datasets, health, job_outputs, jobs, keys, teams

# Matched in this order (their paths do not overlap): the routers polled most come first,
# `jobs.fast_router` (the hot `GET /v1/jobs/{id}`) before all.
ROUTERS = [health.router, jobs.fast_router, jobs.router, job_outputs.router, datasets.router,
           keys.router, teams.router]
