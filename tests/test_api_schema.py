"""Schemathesis against the app's own OpenAPI schema: no 5xx, errors as problem+json, answers as documented.

Every operation gets a few generated requests, valid and invalid (schemathesis' positive and negative
modes), sent through the `demo_client` fixture: the real app on the demo district, each request in a
savepoint of the test's transaction, all rolled back at the end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from api.app import create_app

# The schema alone: building the app touches no database (that happens in its lifespan).
schema = schemathesis.openapi.from_dict(create_app().openapi()).exclude(
    # Starts a coverage computation for the whole district: in a background thread that commits outside the
    # test's transaction, or (wait=true) seconds of work per request. tests/test_coverage_runs.py covers it.
    method="POST",
    path="/api/coverage/runs",
)

BASE_URL = "http://testserver"  # the TestClient's
OWN_ERROR_FORMAT = "/open311/"  # Open311 answers errors as its spec says: [{"code", "description"}]


def send(client: TestClient, case: schemathesis.Case) -> httpx.Response:
    """Send a generated case through the test's client (requests-style keyword arguments → httpx)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), str | bytes):
        body["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["data"] = kwargs["data"]
    if kwargs.get("files"):
        body["files"] = kwargs["files"]
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "user-agent"}
    if kwargs.get("cookies"):
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
    return client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, **body)


def assert_problem_json(case: schemathesis.Case, response: httpx.Response) -> None:
    if response.status_code < 400 or case.path.startswith(OWN_ERROR_FORMAT):
        return
    assert response.headers.get("content-type", "").startswith("application/problem+json"), (
        case.method,
        case.formatted_path,
        response.status_code,
        response.text[:300],
    )
    body = response.json()
    assert body["status"] == response.status_code and body["detail"], body


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=timedelta(seconds=30),  # generous: a hang, not a slow machine, should fail it
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, demo_client: TestClient) -> None:
    response = send(demo_client, case)
    case.validate_response(
        response,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
    assert_problem_json(case, response)
