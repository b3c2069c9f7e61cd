"""Calls cheap to send and costly to answer (issue 15, item 10): bulk assignment and site suggestion need a token
and carry at most GRIDMAP_MAX_POINTS_PER_REQUEST points; anonymous catchment and reach requests are rate-limited
per client IP (429 with Retry-After)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth.tokens import issue_api_token
from gis.settings import Settings
from tests.api.test_limits import a_point, anonymous, assert_problem, authorized, limit


def points(session: Session, n: int) -> list[list[float]]:
    lon, lat = a_point(session)
    return [[lon + k * 1e-6, lat] for k in range(n)]


def integration_token(session: Session, client: TestClient) -> str:
    """An API token (gmt_…) of a dispatcher account, as an integration would hold."""
    client.as_role("dispatcher", "integration")
    return issue_api_token(session, "integration", actor="test", name="city hotline")["token"]


# -- a token ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/incidents/bulk", {"points": [[121.55, 29.87]]}),
        ("POST", "/api/coverage/suggest", {"category": "health_station", "candidates": [[121.55, 29.87]]}),
        ("GET", "/api/coverage/suggest?category=health_station&k=1", None),
    ],
)
def test_bulk_assignment_and_site_suggestion_need_a_token(
    demo_client: TestClient, method: str, url: str, body: dict[str, Any] | None
) -> None:
    refused = anonymous(demo_client, method, url, json=body)
    assert_problem(refused, 401)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(authorized(demo_client, "Bearer not-a-token", method, url, json=body), 401)
    assert demo_client.request(method, url, json=body).status_code == 200  # staff (the client's admin)


def test_an_integrations_api_token_may_assign_in_bulk(demo_session: Session, demo_client: TestClient) -> None:
    token = integration_token(demo_session, demo_client)
    response = authorized(
        demo_client, f"Bearer {token}", "POST", "/api/incidents/bulk", json={"points": points(demo_session, 3)}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["assignments"]) == 3


# -- a size cap ---------------------------------------------------------------------------------------------


def test_bulk_points_are_capped_by_the_settings_naming_the_cli(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    assert settings.max_points_per_request == 10_000
    limit(demo_client, settings, max_points_per_request=5)
    assert demo_client.post("/api/incidents/bulk", json={"points": points(demo_session, 5)}).status_code == 200
    refused = demo_client.post("/api/incidents/bulk", json={"points": points(demo_session, 6)})
    body = assert_problem(refused, 422, "points")
    assert "6 points" in body["detail"] and "limit of 5" in body["detail"] and "gridmap assign" in body["detail"]


def test_the_default_cap_refuses_a_hundred_thousand_points(demo_session: Session, demo_client: TestClient) -> None:
    body = assert_problem(demo_client.post("/api/incidents/bulk", json={"points": points(demo_session, 10_001)}), 422)
    assert body["where"] == "points" and "10000" in body["detail"]


def test_suggestion_candidates_are_capped_by_the_settings_naming_the_cli(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, max_points_per_request=2)
    request = {"category": "health_station", "k": 1, "candidates": points(demo_session, 3)}
    body = assert_problem(demo_client.post("/api/coverage/suggest", json=request), 422, "candidates")
    assert "3 points" in body["detail"] and "gridmap coverage suggest" in body["detail"]
    request["candidates"] = points(demo_session, 2)
    assert demo_client.post("/api/coverage/suggest", json=request).status_code == 200


# -- anonymous expensive reads ------------------------------------------------------------------------------


def expensive_reads(session: Session) -> list[str]:
    lon, lat = a_point(session)
    facility = session.execute(text("SELECT min(id) FROM facilities")).scalar_one()
    return [
        f"/api/reach?lon={lon}&lat={lat}",
        f"/api/facilities/{facility}/catchment?minutes=5",
        f"/ogc/collections/catchments/items?facility_id={facility}&limit=1",
        f"/ogc/collections/catchments/items/{facility}-5",
    ]


def test_anonymous_catchments_and_reach_are_rate_limited_per_client(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    reads = expensive_reads(demo_session)
    limit(demo_client, settings, anonymous_expensive_reads_per_minute=len(reads))
    for url in reads:  # one window for all of them
        assert anonymous(demo_client, "GET", url).status_code == 200, url
    for url in reads:
        refused = anonymous(demo_client, "GET", url)
        body = assert_problem(refused, 429)
        assert f"more than {len(reads)} anonymous catchment and reach requests a minute" in body["detail"]
        assert int(refused.headers["Retry-After"]) >= 1
    # Cheap public reads are not counted; staff and integrations are not limited.
    assert anonymous(demo_client, "GET", "/ogc/collections/facilities/items?limit=1").status_code == 200
    for url in reads:
        assert demo_client.get(url).status_code == 200, url


def test_a_bearer_token_lifts_the_limit_only_when_it_is_valid(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, anonymous_expensive_reads_per_minute=1)
    token = integration_token(demo_session, demo_client)
    for url in expensive_reads(demo_session):
        assert_problem(authorized(demo_client, "Bearer forged", "GET", url), 401)  # no way around the limit
        assert authorized(demo_client, f"Bearer {token}", "GET", url).status_code == 200, url


def test_zero_means_no_limit_on_expensive_reads(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, anonymous_expensive_reads_per_minute=0)
    url = expensive_reads(demo_session)[0]
    assert {anonymous(demo_client, "GET", url).status_code for _ in range(5)} == {200}
