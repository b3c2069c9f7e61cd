"""Incidents over HTTP on the demo district in PostGIS: report, idempotency, the loop, duplicates, relocation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geo.china_offsets import wgs84_to_gcj02
from gis.settings import Settings
from tests.conftest import GridmapClient


def somewhere(session: Session, n: int = 0) -> tuple[float, float, str]:
    """The representative point of the n-th building and the code of its grid in the published plan."""
    return session.execute(
        text("""
        SELECT ST_X(p), ST_Y(p), g.code FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings
                                              ORDER BY id OFFSET :n LIMIT 1) b
        JOIN grids g ON ST_Covers(g.geom, b.p)
        JOIN grid_plans pl ON pl.id = g.plan_id AND pl.status = 'published'
        ORDER BY g.code LIMIT 1"""),
        {"n": n},
    ).one()


def file_report(
    client: TestClient,
    session: Session,
    *,
    key: str | None = None,
    n: int = 0,
    category: str = "sanitation",
    **extra: Any,
) -> Any:
    lon, lat, _ = somewhere(session, n)
    headers = {"Idempotency-Key": key} if key else {}
    body = {
        "category": category,
        "description": "垃圾满溢",
        "location": {"lon": lon, "lat": lat},
        "channel": "wechat",
        "reporter_contact": "13800000000",
    } | extra
    return client.post("/api/incidents", json=body, headers=headers)


def test_report_lands_on_its_grid_with_department_and_deadline(demo_session: Session, demo_client: TestClient) -> None:
    _, _, code = somewhere(demo_session)
    response = file_report(demo_client, demo_session)
    body = response.json()
    assert response.status_code == 201, response.text
    assert body["grid_code"] == code and body["status"] == "reported" and body["department"] == "环卫所"
    assert body["street_name"] == "白云街道" and body["plan_id"] > 0 and body["deadline_at"]
    assert body["allowed_actions"] == ["register", "reject", "mark_duplicate"]
    assert [e["action"] for e in body["history"]] == ["report"]
    assert "13800000000" not in response.text  # the reporter's contact stays private


def test_gcj02_location_from_wechat_lands_on_the_same_grid(demo_session: Session, demo_client: TestClient) -> None:
    lon, lat, code = somewhere(demo_session, 5)
    shifted = wgs84_to_gcj02(lon, lat)
    body = demo_client.post(
        "/api/incidents",
        json={
            "category": "facility_damage",
            "location": {"lon": float(shifted[0]), "lat": float(shifted[1]), "crs": "gcj02"},
        },
    ).json()
    assert body["grid_code"] == code


def test_report_by_address(demo_session: Session, demo_client: TestClient) -> None:
    address = demo_session.execute(
        text("SELECT address FROM buildings WHERE address IS NOT NULL ORDER BY id LIMIT 1")
    ).scalar_one()
    response = demo_client.post("/api/incidents", json={"category": "dispute", "address": address})
    assert response.status_code == 201, response.text
    assert response.json()["address"] == address and response.json()["grid_code"]
    missing = demo_client.post("/api/incidents", json={"category": "dispute", "address": "不存在的地址"})
    assert missing.status_code == 422 and "no building matches" in missing.json()["detail"]


def keyed_incidents(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM incidents WHERE idempotency_key IS NOT NULL")).scalar_one()


def test_idempotent_retries_make_one_incident(demo_session: Session, demo_client: TestClient) -> None:
    before = keyed_incidents(demo_session)
    first = file_report(demo_client, demo_session, key="wx-7f3a")
    again = file_report(demo_client, demo_session, key="wx-7f3a")
    other = file_report(demo_client, demo_session, key="wx-7f3b")
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert other.json()["id"] != first.json()["id"]
    assert keyed_incidents(demo_session) == before + 2


@pytest.mark.parametrize("channel", ["patrol", "sensor", " Patrol "])
def test_the_public_cannot_claim_a_staff_channel(
    demo_session: Session, demo_client: GridmapClient, channel: str
) -> None:
    """Patrol and sensor reports come from staff (grid workers, integrations' API tokens): dispatch and the
    statistics trust them, so an anonymous report may not say it is one."""
    before = demo_session.execute(text("SELECT count(*) FROM incidents")).scalar_one()
    refused = file_report(demo_client.anonymous, demo_session, channel=channel)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["where"] == "channel" and "staff" in refused.json()["detail"]
    assert demo_session.execute(text("SELECT count(*) FROM incidents")).scalar_one() == before
    assert file_report(demo_client.anonymous, demo_session, channel="wechat").status_code == 201


@pytest.mark.parametrize("role", ["grid_worker", "dispatcher"])
def test_staff_may_report_on_a_staff_channel(demo_session: Session, demo_client: GridmapClient, role: str) -> None:
    lon, lat, _ = somewhere(demo_session, 2)
    response = demo_client.post(
        "/api/incidents",
        json={"category": "sanitation", "location": {"lon": lon, "lat": lat}, "channel": "patrol"},
        headers=demo_client.as_role(role),
    )
    assert response.status_code == 201, response.text
    assert response.json()["channel"] == "patrol"


def test_the_closed_loop_with_refusals_changing_nothing(demo_session: Session, demo_client: TestClient) -> None:
    incident = file_report(demo_client, demo_session).json()
    url = f"/api/incidents/{incident['id']}/transitions"

    refused = demo_client.post(url, json={"action": "close"})
    assert refused.status_code == 409 and "allowed now: register, reject, mark_duplicate" in refused.json()["detail"]
    assert demo_client.get(f"/api/incidents/{incident['id']}").json()["status"] == "reported"

    dispatcher = demo_client.as_role("dispatcher", "dispatcher-li")  # the history names who moved it
    for action, note in (
        ("register", None),
        ("dispatch", "派给王网格员"),
        ("start", None),
        ("return", "不属于本网格"),
        ("dispatch", None),
        ("start", None),
        ("resolve", "已清运"),
        ("verify", None),
        ("close", None),
    ):
        response = demo_client.post(url, json={"action": action, "note": note}, headers=dispatcher)
        assert response.status_code == 200, (action, response.text)
    final = demo_client.get(f"/api/incidents/{incident['id']}").json()
    assert final["status"] == "closed" and final["closed_at"] and final["deadline_at"] is None
    steps = [(e["action"], e["from_status"], e["to_status"], e["actor"]) for e in final["history"]]
    assert steps[4] == ("return", "in_progress", "returned", "dispatcher-li") and len(steps) == 10
    assert final["history"][2]["note"] == "派给王网格员"


def test_return_without_a_reason_is_refused(demo_session: Session, demo_client: TestClient) -> None:
    incident = file_report(demo_client, demo_session).json()
    url = f"/api/incidents/{incident['id']}/transitions"
    for action in ("register", "dispatch"):
        demo_client.post(url, json={"action": action})
    response = demo_client.post(url, json={"action": "return"})
    assert response.status_code == 422 and response.json()["where"] == "note"


def test_duplicates_are_suggested_and_can_be_marked(demo_session: Session, demo_client: TestClient) -> None:
    first = file_report(demo_client, demo_session, n=10).json()
    second = file_report(demo_client, demo_session, n=10).json()
    other_category = file_report(demo_client, demo_session, n=10, category="dispute").json()
    assert [d["id"] for d in second["possible_duplicates"]] == [first["id"]]
    assert first["id"] not in [d["id"] for d in other_category["possible_duplicates"]]
    marked = demo_client.post(
        f"/api/incidents/{second['id']}/transitions", json={"action": "mark_duplicate", "duplicate_of": first["id"]}
    )
    assert marked.status_code == 200 and marked.json()["duplicate_of"] == first["id"]
    assert marked.json()["status"] == "duplicate"


def test_location_correction_reassigns_and_is_logged(demo_session: Session, demo_client: TestClient) -> None:
    incident = file_report(demo_client, demo_session, n=0).json()
    far_lon, far_lat, far_code = next(
        row for row in (somewhere(demo_session, n) for n in range(0, 4000, 97)) if row[2] != incident["grid_code"]
    )
    response = demo_client.post(
        f"/api/incidents/{incident['id']}/location",
        json={"location": {"lon": far_lon, "lat": far_lat}, "note": "定位有误"},
    )
    body = response.json()
    assert response.status_code == 200 and body["grid_code"] == far_code
    event = body["history"][-1]
    assert event["action"] == "relocate" and event["note"] == "定位有误"
    assert event["details"]["before"]["grid_id"] == incident["grid_id"]


def test_list_filters_and_pages(demo_session: Session, demo_client: TestClient) -> None:
    made = [
        file_report(demo_client, demo_session, n=n, category=c).json()
        for n, c in ((1, "sanitation"), (2, "sanitation"), (3, "dispute"))
    ]
    by_category = demo_client.get("/api/incidents", params={"category": "sanitation"}).json()
    assert by_category["numberMatched"] == 2
    assert {f["id"] for f in by_category["features"]} == {made[0]["id"], made[1]["id"]}
    by_grid = demo_client.get("/api/incidents", params={"grid": made[2]["grid_code"]}).json()
    assert made[2]["id"] in {f["id"] for f in by_grid["features"]}
    page = demo_client.get("/api/incidents", params={"limit": 1, "offset": 1}).json()
    assert page["numberReturned"] == 1 and page["numberMatched"] == 3
    assert demo_client.get("/api/incidents", params={"overdue": True}).json()["numberMatched"] == 0
    assert "13800000000" not in demo_client.anonymous.get("/api/incidents").text  # contacts: dispatchers only


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({"category": "ufo", "location": {"lon": 121.55, "lat": 29.87}}, 422, "category"),
        ({"category": "dispute"}, 422, "location"),
        ({"category": "dispute", "location": {"lon": 29.87, "lat": 121.55}}, 422, "location"),
        ({"category": "dispute", "location": {"lon": 121.55, "lat": 29.87, "crs": "xyz"}}, 422, "location"),
    ],
)
def test_bad_reports_are_422_and_write_nothing(
    demo_session: Session, demo_client: TestClient, body: dict, status: int, where: str
) -> None:
    before = demo_session.execute(text("SELECT count(*) FROM incidents")).scalar()
    response = demo_client.post("/api/incidents", json=body)
    assert response.status_code == status and response.json()["where"] == where
    assert demo_session.execute(text("SELECT count(*) FROM incidents")).scalar() == before


def test_stats_count_by_status_and_median_handling_time(demo_session: Session, demo_client: TestClient) -> None:
    made = [file_report(demo_client, demo_session, n=n).json() for n in (1, 2, 3)]
    url = f"/api/incidents/{made[0]['id']}/transitions"
    for action in ("register", "dispatch", "start", "resolve", "verify", "close"):
        assert demo_client.post(url, json={"action": action}).status_code == 200
    demo_session.execute(
        text("UPDATE incidents SET reported_at = closed_at - interval '5 hours' WHERE id = :id"), {"id": made[0]["id"]}
    )
    demo_session.execute(
        text("UPDATE incidents SET deadline_at = now() - interval '1 minute' WHERE id = :id"), {"id": made[1]["id"]}
    )

    rows = demo_client.get("/api/incidents/stats", params={"level": "all"}).json()

    assert rows == [
        {
            "level": "all",
            "code": "all",
            "name": "all",
            "total": 3,
            "open": 2,
            "overdue": 1,
            "by_status": {"closed": 1, "reported": 2},
            "median_handling_hours": 5.0,
            "evaluated": 0,
            "mean_rating": None,
        }
    ]
    per_grid = demo_client.get("/api/incidents/stats", params={"level": "grid"}).json()
    assert sum(r["total"] for r in per_grid) == 3 and all(r["code"] for r in per_grid)
    # The dispatch centre's view (统一分拨): per department (from the category's routing) and per category.
    per_department = demo_client.get("/api/incidents/stats", params={"level": "department"}).json()
    assert sum(r["total"] for r in per_department) == 3 and all(
        r["code"] and r["level"] == "department" for r in per_department
    )
    assert sum(r["open"] for r in per_department) == 2 and sum(r["overdue"] for r in per_department) == 1
    per_category = demo_client.get("/api/incidents/stats", params={"level": "category"}).json()
    assert {r["code"] for r in per_category} <= {
        "sanitation",
        "dispute",
        "facility_damage",
        "public_order",
        "safety_hazard",
        "illegal_construction",
        "property_conflict",
        "device_alarm",
        "emergency",
    }
    overdue = demo_client.get("/api/incidents", params={"overdue": True}).json()
    assert [f["id"] for f in overdue["features"]] == [made[1]["id"]]


def test_imported_incidents_are_assigned_in_one_join(demo_session: Session, settings: Settings) -> None:
    import geopandas as gpd
    import shapely

    from gis.exchange.load import import_frame

    points = [somewhere(demo_session, n) for n in (0, 40, 80)]
    frame = gpd.GeoDataFrame(
        {"category": ["sanitation", "dispute", "ufo"], "status": ["reported", "closed", "reported"]},
        geometry=[shapely.Point(x, y) for x, y, _ in points],
        crs=4326,
    )

    report = import_frame(demo_session, "incidents", frame, settings=settings)

    assert report.imported == 2 and [(p.row, "incident registry" in p.reason) for p in report.rejected] == [(3, True)]
    rows = demo_session.execute(
        text("""
        SELECT g.code, i.department, i.deadline_at IS NOT NULL, i.plan_id IS NOT NULL FROM incidents i
        JOIN grids g ON g.id = i.grid_id WHERE i.source_id IS NULL AND i.idempotency_key IS NULL
        ORDER BY i.id""")
    ).all()
    assert [(code, dept, due, planned) for code, dept, due, planned in rows][-2:] == [
        (points[0][2], "环卫所", True, True),
        (points[1][2], "综治中心", False, True),
    ]


def test_an_incident_id_beyond_bigint_is_not_found(demo_client: TestClient) -> None:
    response = demo_client.get("/api/incidents/678860551497753789940844890167443456")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert demo_client.get("/api/incidents/-678860551497753789940844890167443456").status_code == 404
