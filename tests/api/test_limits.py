"""Limits: body size (413), vertices per geometry (422), page size, anonymous incident reports (429).

Each refused request must also leave nothing behind. Limits are read from the app's settings on every
request, so a test narrows one by replacing `client.app.state.settings` for its own app.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import httpx
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth.users import create_user
from gis.exchange.load import import_frame
from gis.settings import Settings
from tests import samples

PROBLEM = "application/problem+json"


def limit(client: TestClient, settings: Settings, **changes: Any) -> None:
    app: Any = client.app  # the FastAPI app (TestClient types it as any ASGI app)
    app.state.settings = settings.model_copy(update=changes)


def count(session: Session, table: str) -> int:
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def a_point(session: Session, n: int = 0) -> tuple[float, float]:
    return session.execute(
        text("""SELECT ST_X(p), ST_Y(p)
                FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings ORDER BY id OFFSET :n LIMIT 1) b"""),
        {"n": n},
    ).one()


def report_body(session: Session, n: int = 0, **extra: Any) -> dict[str, Any]:
    lon, lat = a_point(session, n)
    return {"category": "sanitation", "description": "垃圾满溢", "location": {"lon": lon, "lat": lat}} | extra


def assert_problem(response: httpx.Response, status: int, where: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["detail"] and "Traceback" not in response.text
    if where is not None:
        assert body.get("where") == where or where in body["detail"], body
    return body


def draft(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/plans", json={"base": "current", "name": "limits"})
    assert response.status_code == 201, response.text
    return response.json()


def plan_state(session: Session, plan_id: int) -> tuple[Any, ...]:
    version = session.execute(text("SELECT version FROM grid_plans WHERE id = :p"), {"p": plan_id}).scalar_one()
    operations = session.execute(text("SELECT count(*) FROM plan_operations WHERE plan_id = :p"), {"p": plan_id})
    assignments = session.execute(
        text("SELECT unit_id, grid_id FROM assignments WHERE plan_id = :p ORDER BY 1"), {"p": plan_id}
    ).all()
    return version, operations.scalar_one(), tuple(assignments)


def ring(center: tuple[float, float], radius: float, vertices: int) -> list[list[float]]:
    """A closed circle of `vertices` points (the first repeated at the end)."""
    points = [
        [
            center[0] + radius * math.cos(2 * math.pi * k / vertices),
            center[1] + radius * math.sin(2 * math.pi * k / vertices),
        ]
        for k in range(vertices)
    ]
    return [*points, points[0]]


def anonymous(client: TestClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request without any Authorization header, whatever the client sends by default."""
    request = client.build_request(method, url, **kwargs)
    request.headers.pop("Authorization", None)
    return client.send(request)


def with_token(client: TestClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request carrying the client's token, or some bearer token when the client has none."""
    request = client.build_request(method, url, **kwargs)
    request.headers.setdefault("Authorization", "Bearer limits-test")
    return client.send(request)


# -- body size --------------------------------------------------------------------------------------


def test_default_body_limit_is_ten_mebibytes(demo_session: Session, demo_client: TestClient) -> None:
    before = count(demo_session, "incidents")
    padding = "x" * (10 * 1024 * 1024)
    response = demo_client.post("/api/incidents", json=report_body(demo_session, photo_url=padding))
    body = assert_problem(response, 413, where="body")
    assert str(10 * 1024 * 1024) in body["detail"]
    assert count(demo_session, "incidents") == before


def test_oversize_body_is_413_and_writes_nothing(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, max_body_bytes=1_000)
    before = count(demo_session, "incidents")
    small = demo_client.post("/api/incidents", json=report_body(demo_session))
    assert small.status_code == 201, small.text
    big = demo_client.post("/api/incidents", json=report_body(demo_session, description="很长" * 600))
    assert_problem(big, 413, where="body")
    assert count(demo_session, "incidents") == before + 1


def chunks(payload: bytes, size: int = 256) -> Iterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


@pytest.mark.parametrize("how", ["chunked", "lying content-length"])
def test_body_is_counted_while_read_not_trusted_from_content_length(
    demo_session: Session, demo_client: TestClient, settings: Settings, how: str
) -> None:
    limit(demo_client, settings, max_body_bytes=1_000)
    plan = draft(demo_client)
    before = plan_state(demo_session, plan["id"])
    payload = httpx.Request(
        "POST",
        "/",
        json={"grid": 1, "polygon": {"type": "Polygon", "coordinates": [ring((121.55, 29.87), 0.001, 200)]}},
    ).content
    assert len(payload) > 1_000
    headers = {"Content-Type": "application/json", "If-Match": str(plan["version"])}
    if how == "chunked":
        response = demo_client.post(f"/api/plans/{plan['id']}/redraw", content=chunks(payload), headers=headers)
    else:
        headers["Content-Length"] = "100"
        response = demo_client.post(f"/api/plans/{plan['id']}/redraw", content=payload, headers=headers)
    assert_problem(response, 413, where="body")
    assert plan_state(demo_session, plan["id"]) == before


def test_open311_post_has_the_same_body_limit(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, max_body_bytes=500)
    before = count(demo_session, "incidents")
    lon, lat = a_point(demo_session)
    fields = {"service_code": "sanitation", "lat": str(lat), "long": str(lon), "description": "满" * 400}
    response = demo_client.post("/open311/v2/requests.json", data=fields)
    assert_problem(response, 413, where="body")
    assert count(demo_session, "incidents") == before


# -- vertices ---------------------------------------------------------------------------------------


def test_too_many_vertices_in_a_redraw_is_422_naming_the_field(demo_session: Session, demo_client: TestClient) -> None:
    """The default limit (100,000): a polygon of 100,001 vertices is refused before any work is done."""
    plan = draft(demo_client)
    before = plan_state(demo_session, plan["id"])
    polygon = {"type": "Polygon", "coordinates": [ring((121.55, 29.87), 0.001, 100_000)]}
    response = demo_client.post(
        f"/api/plans/{plan['id']}/redraw",
        json={"grid": 1, "polygon": polygon},
        headers={"If-Match": str(plan["version"])},
    )
    body = assert_problem(response, 422, where="polygon")
    assert "100001 vertices" in body["detail"] and "100000" in body["detail"]
    assert plan_state(demo_session, plan["id"]) == before


def test_vertex_limit_follows_the_settings_for_split_lines(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, max_vertices=50)
    plan = draft(demo_client)
    before = plan_state(demo_session, plan["id"])
    line = {"type": "LineString", "coordinates": [[121.54 + k * 1e-4, 29.87] for k in range(51)]}
    response = demo_client.post(
        f"/api/plans/{plan['id']}/split", json={"grid": 1, "line": line}, headers={"If-Match": str(plan["version"])}
    )
    body = assert_problem(response, 422, where="line")
    assert "51 vertices" in body["detail"]
    assert plan_state(demo_session, plan["id"]) == before


def test_import_rejects_a_row_with_too_many_vertices_and_keeps_the_rest(session: Session, settings: Settings) -> None:
    import_frame(session, "communities", samples.communities(), settings=settings)
    good = samples.buildings(2)
    huge = shapely.Polygon(ring((121.5512, 29.8712), 0.0001, 100_001))
    frame = gpd.GeoDataFrame(
        {"name": ["巨", *good["name"]], "households": [10, *good["households"]]},
        geometry=[huge, *good.geometry],
        crs=4326,
    )
    report = import_frame(session, "buildings", frame, settings=settings)
    assert report.imported == 2 and [p.row for p in report.rejected] == [1]
    assert "100002 vertices" in report.rejected[0].reason
    assert count(session, "buildings") == 2


# -- pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/buildings?limit=1000000",
        "/api/incidents?limit=1000000",
        "/ogc/collections/buildings/items?limit=1000000",
        "/api/coverage/gaps?category=health_station&limit=1000000",
    ],
)
def test_page_size_is_capped_by_page_limit_max(
    demo_session: Session, demo_client: TestClient, settings: Settings, url: str
) -> None:
    for n in range(5):
        assert demo_client.post("/api/incidents", json=report_body(demo_session, n)).status_code == 201
    limit(demo_client, settings, page_limit_max=3)
    response = demo_client.get(url)
    assert response.status_code == 200, response.text
    assert len(response.json()["features"]) <= 3
    if "gaps" not in url:
        assert len(response.json()["features"]) == 3


def test_open311_list_is_capped_by_page_limit_max(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    for n in range(5):
        assert demo_client.post("/api/incidents", json=report_body(demo_session, n)).status_code == 201
    limit(demo_client, settings, page_limit_max=2)
    assert len(demo_client.get("/open311/v2/requests.json").json()) == 2


# -- anonymous incident reports ---------------------------------------------------------------------


def test_anonymous_reports_are_rate_limited_per_client(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, anonymous_submissions_per_minute=3)
    before = count(demo_session, "incidents")
    for n in range(3):
        response = anonymous(demo_client, "POST", "/api/incidents", json=report_body(demo_session, n))
        assert response.status_code == 201, response.text
    refused = anonymous(demo_client, "POST", "/api/incidents", json=report_body(demo_session, 3))
    body = assert_problem(refused, 429)
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and "3 incident reports a minute" in body["detail"]
    # Open311 submissions count against the same window: one more anonymous report from this client.
    lon, lat = a_point(demo_session, 4)
    open311 = anonymous(
        demo_client, "POST", "/open311/v2/requests.json", data={"service_code": "sanitation", "lat": lat, "long": lon}
    )
    assert_problem(open311, 429)
    assert count(demo_session, "incidents") == before + 3
    # A request that carries a token is not counted (authentication answers for it).
    signed = with_token(demo_client, "POST", "/api/incidents", json=report_body(demo_session, 5))
    assert signed.status_code != 429, signed.text


def test_zero_means_no_rate_limit(demo_session: Session, demo_client: TestClient, settings: Settings) -> None:
    limit(demo_client, settings, anonymous_submissions_per_minute=0)
    statuses = [
        anonymous(demo_client, "POST", "/api/incidents", json=report_body(demo_session, n % 10)).status_code
        for n in range(35)
    ]
    assert statuses == [201] * 35


def test_other_writes_are_not_counted(demo_session: Session, demo_client: TestClient, settings: Settings) -> None:
    limit(demo_client, settings, anonymous_submissions_per_minute=1)
    for _ in range(3):  # bulk assignment needs a token (test_expensive_calls.py): refused, but not counted
        response = anonymous(demo_client, "POST", "/api/incidents/bulk", json={"points": [list(a_point(demo_session))]})
        assert_problem(response, 401)
    assert anonymous(demo_client, "POST", "/api/incidents", json=report_body(demo_session)).status_code == 201


def test_sign_in_attempts_are_rate_limited_per_client(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    create_user(demo_session, "guessed", "planner", actor="test", password="the-right-password")
    limit(demo_client, settings, sign_in_attempts_per_minute=3)
    for n in range(3):
        wrong = anonymous(demo_client, "POST", "/api/auth/token", data={"username": "guessed", "password": f"x{n}"})
        assert_problem(wrong, 401)
    right = anonymous(
        demo_client, "POST", "/api/auth/token", data={"username": "guessed", "password": "the-right-password"}
    )
    body = assert_problem(right, 429)  # even the right password waits: guessing must not pay off
    assert "3 sign-in attempts a minute" in body["detail"] and int(right.headers["Retry-After"]) >= 1


# -- errors everywhere are problems -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "where"),
    [
        ("GET", "/no/such/page", {}, 404, None),
        ("PUT", "/api/incidents", {}, 405, "method"),
        ("POST", "/api/plans", {"content": b'{"name": ', "headers": {"Content-Type": "application/json"}}, 422, "body"),
        ("POST", "/api/plans", {"content": b"\xff\xfe{", "headers": {"Content-Type": "application/json"}}, 400, "body"),
        ("POST", "/api/plans", {"content": b"name=x", "headers": {"Content-Type": "text/plain"}}, 422, "body"),
        ("GET", "/api/buildings?offset=99999999999999999999", {}, 422, "query.offset"),
        ("GET", "/api/incidents?category=a%00b", {}, 422, "category"),
        ("GET", "/ogc/collections/grids/items?code=%00", {}, 422, "code"),
    ],
)
def test_http_errors_are_problems_naming_the_field(
    demo_client: TestClient, method: str, url: str, kwargs: dict[str, Any], status: int, where: str | None
) -> None:
    assert_problem(demo_client.request(method, url, **kwargs), status, where=where)


def test_nul_characters_in_text_are_refused_and_nothing_written(demo_session: Session, demo_client: TestClient) -> None:
    """PostgreSQL cannot store U+0000 in text: a 422 naming the field, not a 500 from the database."""
    before = count(demo_session, "incidents")
    response = demo_client.post("/api/incidents", json=report_body(demo_session, description="垃圾\x00满溢"))
    assert_problem(response, 422, where="body.description")
    lon, lat = a_point(demo_session)
    fields = {"service_code": "sanitation", "lat": str(lat), "long": str(lon), "description": "a\x00b"}
    assert_problem(demo_client.post("/open311/v2/requests.json", data=fields), 422, where="description")
    assert_problem(demo_client.post("/api/plans", json={"base": "current", "name": "草案\x00"}), 422, "body.name")
    assert count(demo_session, "incidents") == before
    # An escaped backslash before "u0000" is ordinary text.
    fine = demo_client.post("/api/incidents", json=report_body(demo_session, description="C:\\u0000"))
    assert fine.status_code == 201 and fine.json()["description"] == "C:\\u0000"


def authorized(client: TestClient, authorization: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request carrying exactly this Authorization header, whatever the client sends by default."""
    request = client.build_request(method, url, **kwargs)
    request.headers["Authorization"] = authorization
    return client.send(request)


@pytest.mark.parametrize("authorization", ["Basic Z3Vlc3Q6Z3Vlc3Q=", "Digest username=guest", "Token gmt_x", "basic"])
def test_an_authorization_header_without_a_valid_token_is_still_anonymous(
    demo_session: Session, demo_client: TestClient, settings: Settings, as_role: Any, authorization: str
) -> None:
    """Only a valid token lifts the limit: any other Authorization header is the public."""
    limit(demo_client, settings, anonymous_submissions_per_minute=1)
    assert anonymous(demo_client, "POST", "/api/incidents", json=report_body(demo_session, 0)).status_code == 201
    before = count(demo_session, "incidents")
    refused = authorized(demo_client, authorization, "POST", "/api/incidents", json=report_body(demo_session, 1))
    assert_problem(refused, 429)
    lon, lat = a_point(demo_session, 2)
    fields = {"service_code": "sanitation", "lat": lat, "long": lon}
    assert_problem(authorized(demo_client, authorization, "POST", "/open311/v2/requests.json", data=fields), 429)
    # An invalid bearer token is refused outright, never taken for the public.
    forged = authorized(demo_client, "Bearer x", "POST", "/api/incidents", json=report_body(demo_session, 3))
    assert forged.status_code == 401, forged.text
    assert count(demo_session, "incidents") == before
    # A valid token is not counted: a signed-in dispatcher still reports.
    dispatcher = as_role("dispatcher")["Authorization"]
    signed = authorized(demo_client, dispatcher, "POST", "/api/incidents", json=report_body(demo_session, 4))
    assert signed.status_code == 201, signed.text
