"""The REST API in the original's six groups, plus health; one router per group."""

from . import analytics, clusters, coverage, diversity, feedback, generation, health

# health first: its fixed paths (/api/<group>/health) must win over a group's /{run_id}/... routes
ROUTERS = (health.router, generation.router, clusters.router, diversity.router, coverage.router,
           feedback.router, analytics.router)
