"""Open311 GeoReport v2 (JSON) against the incident service on the demo district."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import GridmapClient


def point(session: Session) -> tuple[float, float]:
    return session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings ORDER BY id LIMIT 1) b"
        )
    ).one()


def test_discovery_and_services(demo_client: TestClient) -> None:
    discovery = demo_client.get("/open311/v2/discovery.json").json()
    assert discovery["endpoints"][0]["url"].endswith("/open311/v2")
    services = demo_client.get("/open311/v2/services.json").json()
    codes = {s["service_code"] for s in services}
    assert {"sanitation", "dispute", "illegal_construction"} <= codes
    assert next(s for s in services if s["service_code"] == "sanitation")["group"] == "环卫所"
    assert demo_client.get("/open311/v2/services/sanitation.json").json()["service_code"] == "sanitation"
    missing = demo_client.get("/open311/v2/services/ufo.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


def test_post_form_encoded_then_get_it_back(demo_session: Session, demo_client: TestClient) -> None:
    lat, lon = point(demo_session)[::-1]
    created = demo_client.post(
        "/open311/v2/requests.json",
        data={
            "service_code": "sanitation",
            "lat": str(lat),
            "long": str(lon),
            "description": "路边垃圾堆积",
            "phone": "13900000000",
        },
    )
    assert created.status_code == 201, created.text
    request_id = created.json()[0]["service_request_id"]

    one = demo_client.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    assert one["status"] == "open" and one["status_notes"] == "reported" and one["agency_responsible"] == "环卫所"
    assert abs(one["lat"] - lat) < 1e-9 and abs(one["long"] - lon) < 1e-9
    listed = demo_client.get(
        "/open311/v2/requests.json", params={"service_code": "sanitation", "status": "open"}
    ).json()
    assert request_id in [r["service_request_id"] for r in listed]
    assert demo_client.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []
    assert "13900000000" not in demo_client.get("/open311/v2/requests.json").text


def test_post_json_by_address(demo_session: Session, demo_client: TestClient) -> None:
    address = demo_session.execute(text("SELECT address FROM buildings WHERE address IS NOT NULL LIMIT 1")).scalar()
    created = demo_client.post("/open311/v2/requests.json", json={"service_code": "dispute", "address_string": address})
    assert created.status_code == 201
    by_id = demo_client.get(
        "/open311/v2/requests.json", params={"service_request_id": created.json()[0]["service_request_id"]}
    ).json()
    assert by_id[0]["address"] == address


@pytest.mark.parametrize("channel", ["patrol", "sensor"])
def test_an_open311_request_cannot_claim_a_staff_channel(
    demo_session: Session, demo_client: GridmapClient, channel: str
) -> None:
    """Open311 requests come in on their own channel: a `channel` field (form or JSON) is not taken, so the
    public cannot pass a report off as a patrol's or a sensor's."""
    lat, lon = point(demo_session)[::-1]
    fields = {"service_code": "sanitation", "lat": str(lat), "long": str(lon), "channel": channel}
    for created in (
        demo_client.anonymous.post("/open311/v2/requests.json", data=fields),
        demo_client.anonymous.post("/open311/v2/requests.json", json=fields),
    ):
        assert created.status_code == 201, created.text
        stored = demo_session.execute(
            text("SELECT channel FROM incidents WHERE id = :id"), {"id": int(created.json()[0]["service_request_id"])}
        ).scalar_one()
        assert stored == "open311"


def test_errors_come_as_a_list_of_code_and_description(demo_client: TestClient, demo_session: Session) -> None:
    before = demo_session.execute(text("SELECT count(*) FROM incidents")).scalar()
    for data in (
        {"lat": "29.87", "long": "121.55"},
        {"service_code": "ufo", "lat": "29.87", "long": "121.55"},
        {"service_code": "dispute"},
        {"service_code": "dispute", "lat": "north", "long": "east"},
    ):
        response = demo_client.post("/open311/v2/requests.json", data=data)
        errors = response.json()
        assert 400 <= response.status_code < 500 and errors[0]["code"] == response.status_code
        assert errors[0]["description"]
    assert demo_session.execute(text("SELECT count(*) FROM incidents")).scalar() == before
    assert demo_client.get("/open311/v2/requests/999999.json").json()[0]["code"] == 404


@pytest.mark.parametrize(
    ("field", "longest"),
    [
        ("description", 5_000),
        ("email", 200),
        ("first_name", 200),
        ("last_name", 200),
        ("phone", 200),
        ("media_url", 2_000),
        ("address_string", 200),
        ("attribute[colour]", 200),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_fields_have_the_same_length_limits_as_incident_reports(
    demo_session: Session, demo_client: TestClient, field: str, longest: int, as_json: bool
) -> None:
    """Each field stops where POST /api/incidents stops; a longer one is refused in Open311's format, unwritten."""
    lat, lon = point(demo_session)[::-1]
    fields = {"service_code": "sanitation", "lat": str(lat), "long": str(lon)}
    before = demo_session.execute(text("SELECT count(*) FROM incidents")).scalar()

    def post(value: str) -> httpx.Response:
        if not as_json:
            return demo_client.post("/open311/v2/requests.json", data=fields | {field: value})
        if field.startswith("attribute["):
            return demo_client.post("/open311/v2/requests.json", json=fields | {"attribute": {"colour": value}})
        return demo_client.post("/open311/v2/requests.json", json=fields | {field: value})

    refused = post("x" * (longest + 1))
    errors = refused.json()
    assert 400 <= refused.status_code < 500 and errors[0]["code"] == refused.status_code, refused.text
    assert field in errors[0]["description"] and str(longest) in errors[0]["description"]
    assert demo_session.execute(text("SELECT count(*) FROM incidents")).scalar() == before
    if field != "address_string":  # an address of 200 x's locates nothing: the limit alone is what matters there
        assert post("x" * longest).status_code == 201
