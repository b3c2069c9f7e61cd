"""The app's own OpenAPI schema: every answer documented, and schemathesis finding no 5xx, errors as problem+json
and answers as documented.

Every operation gets a few generated requests, valid and invalid (schemathesis' positive and negative
modes), sent through the `demo_client` fixture: the real app on the demo district, each request in a
savepoint of the test's transaction, all rolled back at the end.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import schemathesis
from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from api.app import create_app

# The schema alone: building the app touches no database (that happens in its lifespan).
APP = create_app()
DOCUMENT = APP.openapi()
schema = (
    schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))
    .exclude(
        # Starts a coverage computation for the whole district: in a background thread that commits outside the
        # test's transaction, or (wait=true) seconds of work per request. tests/test_coverage_runs.py covers it.
        method="POST",
        path="/api/coverage/runs",
    )
    # A followed event stream lasts minutes (at both addresses): tests/api/test_events.py and test_dispatch_desk.py.
    .exclude(method="GET", path="/api/events")
    .exclude(method="GET", path="/api/incidents/events")
)

BASE_URL = "http://testserver"  # the TestClient's
JSON = ("application/json", "application/geo+json")  # answers whose schema must say what they hold
NO_CONTENT = {"204", "304"}
OWN_ERROR_FORMAT = "/open311/"  # Open311 answers errors as its spec says: [{"code", "description"}]


def _file_part(value: Any) -> Any:
    """A multipart file as httpx takes it: bytes or text, or a (name, content, …) tuple of those."""
    if isinstance(value, bytes | str):
        return value
    if isinstance(value, tuple):
        return tuple(v if v is None or isinstance(v, bytes | str | dict) else str(v) for v in value)
    return str(value)


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
    if kwargs.get("files"):  # negative cases put numbers and the like where a file goes: send them as text
        files = kwargs["files"]
        items = files.items() if isinstance(files, dict) else files
        body["files"] = [(k, _file_part(v)) for k, v in items]
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "user-agent"}
    if kwargs.get("cookies"):
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
    response = client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, **body)
    response.request.read()  # a multipart body (uploads) is a stream; schemathesis reads the request's content
    return response


def assert_problem_json(case: schemathesis.Case, response: httpx.Response) -> None:
    if response.status_code < 400 or case.path.startswith(OWN_ERROR_FORMAT):
        return
    documented = case.operation.definition.raw.get("responses", {}).get(str(response.status_code), {})
    if "text/html" in documented.get("content", {}):  # a page a person opens answers its 404 as a page
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


def _documented(body: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether a body schema says what the body holds: a model, typed items or values, a scalar — not `{}`, and not
    "an object of anything" (what a route returning a bare dict gets)."""
    if "$ref" in body:
        return _documented(components[body["$ref"].rsplit("/", 1)[-1]], components)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in body:
            return all(_documented(member, components) for member in body[combined])
    kind = body.get("type")
    if kind == "array":
        return _documented(body.get("items") or {}, components)
    if kind == "object":
        values = body.get("additionalProperties")
        return bool(body.get("properties")) or (isinstance(values, dict) and _documented(values, components))
    return kind in ("string", "number", "integer", "boolean", "null")


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as nested router objects)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)
        elif hasattr(route, "routes") and not hasattr(route, "app"):
            yield from _api_routes(route.routes)


def _sends_files(route: APIRoute) -> bool:
    """Downloads and event streams: their media types say what they send (a GeoJSON download is a file)."""
    response_class = route.response_class
    if isinstance(response_class, DefaultPlaceholder):
        response_class = response_class.value
    return isinstance(response_class, type) and issubclass(response_class, FileResponse | StreamingResponse)


def test_every_route_documents_its_answer() -> None:
    """Each operation's 2xx answer is in /openapi.json: a schema for JSON (application/json, application/geo+json),
    the media type for anything else (pages, tiles, downloads, event streams)."""
    components = DOCUMENT.get("components", {}).get("schemas", {})
    files = {(m, route.path) for route in _api_routes(APP.router.routes) if _sends_files(route) for m in route.methods}
    undocumented = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            answers = {code: answer for code, answer in operation["responses"].items() if code.startswith("2")}
            if not answers:
                undocumented.append(f"{where}: no 2xx answer")
            for code, answer in answers.items():
                content = answer.get("content") or {}
                if not content and code not in NO_CONTENT:
                    undocumented.append(f"{where} {code}: no media type")
                for media_type, body in content.items():
                    if (
                        media_type in JSON
                        and (method.upper(), path) not in files
                        and not _documented(body.get("schema") or {}, components)
                    ):
                        undocumented.append(f"{where} {code} {media_type}: no schema of the body")
    assert not undocumented, "answers without a documented body:\n" + "\n".join(sorted(undocumented))
