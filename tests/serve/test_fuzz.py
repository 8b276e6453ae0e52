"""A property-based fuzz of the OpenAPI schema (schemathesis): whatever the schema allows, and
much that it does not, gets a 4xx with a message, never a 500."""
from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from bffkit.serve.app import create_app
from bffkit.serve.settings import ServeSettings

from .conftest import bearer, copy_with_users

EXAMPLES_PER_OPERATION = 15
MIN_CASES = 300
STATUSES: list[int] = []  # one per generated case, over the whole module


@pytest.fixture(scope="module")
def fuzzed(served_run, tmp_path_factory):
    """(client, admin token): no worker process, so fuzzed runs only queue; limits out of the way."""
    ws, _, tokens = copy_with_users(served_run, tmp_path_factory.mktemp("fuzz"))
    wide = ServeSettings(rate_limit="1000000/minute", file_rate_limit="1000000/minute")
    with TestClient(create_app(ws, wide, worker=False), raise_server_exceptions=False) as client:
        yield client, tokens["ada"]


# The document does not depend on the workspace (nothing opens it before the lifespan starts).
# Read from the app, not fetched through schemathesis' ASGI client, which would start a second
# lifespan (a second store writer) on the workspace; its lazy fixture loader fails on pytest 9.
schema = schemathesis.openapi.from_dict(create_app("unused", worker=False).openapi())


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case, fuzzed):
    client, token = fuzzed
    kw = case.as_transport_kwargs(base_url=str(client.base_url), headers=bearer(token))
    kw.pop("cookies", None)
    if isinstance(kw.get("data"), (bytes, str)):
        kw["content"] = kw.pop("data")
    response = client.request(**kw)
    STATUSES.append(response.status_code)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"


def test_the_fuzz_ran_enough_cases():
    assert len(STATUSES) >= MIN_CASES, f"only {len(STATUSES)} generated cases"
    assert {200, 404, 422} <= set(STATUSES)  # it reached real rows, missing ones and bad input
