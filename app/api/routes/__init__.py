"""One router per resource. Every router is built with `app.api.routing.api_router`."""

from app.api.routes import datasets, health, job_outputs, jobs, keys, teams

# jobs.fast_router: the hot `GET /v1/jobs/{id}`, matched early.
ROUTERS = [health.router, jobs.fast_router, teams.router, keys.router, datasets.router, jobs.router,
           job_outputs.router]
