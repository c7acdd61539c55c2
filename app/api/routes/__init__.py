"""One router per resource. Every router is built with `app.api.routing.api_router`."""

from app.api.routes import datasets, health, job_outputs, jobs, keys, teams

ROUTERS = [health.router, teams.router, keys.router, datasets.router, jobs.router,
           job_outputs.router]
