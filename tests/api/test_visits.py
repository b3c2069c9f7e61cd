"""Field visits (入户走访) over HTTP on the demo district: who may record, list and decide them; approval makes a new
version of the building in a batch of kind `visit`, rejection changes nothing; idempotent retries; notes stay
with staff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import GridmapClient


@dataclass(frozen=True)
class Place:
    building: int
    households: int
    own: dict[str, str]  # headers of a grid worker of the building's grid
    other: dict[str, str]  # headers of a grid worker of another grid
    planner: dict[str, str]


@pytest.fixture
def place(demo_client: GridmapClient, demo_session: Session) -> Place:
    row = demo_session.execute(
        text("""SELECT b.id, b.households, g.code FROM buildings b
                JOIN assignments a ON a.unit_id = b.unit_id
                JOIN grid_plans p ON p.id = a.plan_id AND p.status = 'published'
                JOIN grids g ON g.id = a.grid_id
                WHERE b.residential ORDER BY b.id LIMIT 1""")
    ).one()
    other = demo_session.execute(
        text("""SELECT g.code FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
                WHERE g.code <> :code ORDER BY g.code LIMIT 1"""),
        {"code": row.code},
    ).scalar_one()
    return Place(
        building=row.id,
        households=row.households,
        own=demo_client.as_role("grid_worker", "worker-own", grids=(row.code,)),
        other=demo_client.as_role("grid_worker", "worker-other", grids=(other,)),
        planner=demo_client.as_role("planner"),
    )


NOTE = "3单元502 王阿姨独居，电话13800000000"


def visit(client: GridmapClient, place: Place, headers: dict[str, str], **body: Any) -> Any:
    payload = {"households": place.households + 5, "population_resident": 61, "note": NOTE} | body
    return client.post(f"/api/buildings/{place.building}/visits", json=payload, headers=headers)


def households(client: GridmapClient, building: int) -> int:
    return client.anonymous.get(f"/api/buildings/{building}").json()["properties"]["households"]


def test_a_worker_of_the_grid_records_a_pending_visit_others_may_not(demo_client: GridmapClient, place: Place) -> None:
    recorded = visit(
        demo_client,
        place,
        place.own,
        location={"lon": 121.55, "lat": 29.87},
        accuracy_m=8,
        visited_at="2026-03-01T10:00:00+08:00",
    )
    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert body["status"] == "pending" and body["actor"] == "worker-own" and body["building_id"] == place.building
    assert body["observed"]["households"] == place.households + 5 and body["observed"]["population_floating"] is None
    assert body["note"] == NOTE and body["location"] == {"lon": 121.55, "lat": 29.87}
    assert body["at"].startswith("2026-03-01T02:00:00") and body["version"] is None
    assert recorded.headers["Location"] == f"/api/visits/{body['id']}"
    assert households(demo_client, place.building) == place.households  # pending: nothing changed yet

    other = visit(demo_client, place, place.other)
    assert other.status_code == 403 and other.headers["content-type"] == "application/problem+json"
    assert demo_client.anonymous.post(f"/api/buildings/{place.building}/visits", json={}).status_code == 401
    assert visit(demo_client, place, place.planner).status_code == 403  # planners decide, they do not record
    assert visit(demo_client, place, {}).status_code == 201  # the client's own headers: an admin, anywhere
    assert demo_client.post("/api/buildings/987654321/visits", json={}).status_code == 404


def test_approval_makes_a_new_version_in_a_visit_batch(demo_client: GridmapClient, place: Place) -> None:
    recorded = visit(demo_client, place, place.own).json()
    approved = demo_client.post(
        f"/api/visits/{recorded['id']}/approve", json={"note": "核实无误"}, headers=place.planner
    )
    assert approved.status_code == 200, approved.text
    decided = approved.json()
    assert decided["status"] == "approved" and decided["decided_by"] == "test-planner"
    assert decided["batch_id"] is not None and decided["version"] is not None
    assert households(demo_client, place.building) == place.households + 5

    history = demo_client.get(f"/api/buildings/{place.building}/history").json()["versions"]
    last = history[-1]
    assert last["version"] == decided["version"] and last["valid_to"] is None and last["change"] == "update"
    assert last["batch"]["kind"] == "visit" and last["batch"]["id"] == decided["batch_id"]
    assert last["batch"]["source"] == f"visit:{recorded['id']}" and last["visit_id"] == recorded["id"]
    assert last["properties"]["population_resident"] == 61
    assert history[-2]["properties"]["households"] == place.households

    again = demo_client.post(f"/api/visits/{recorded['id']}/approve", headers=place.planner)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert demo_client.post(f"/api/visits/{recorded['id']}/reject", headers=place.planner).status_code == 409
    assert demo_client.post("/api/visits/987654321/approve", headers=place.planner).status_code == 404


def test_rejection_leaves_the_building_unchanged(demo_client: GridmapClient, place: Place) -> None:
    versions = len(demo_client.get(f"/api/buildings/{place.building}/history").json()["versions"])
    recorded = visit(demo_client, place, place.own).json()
    assert demo_client.post(f"/api/visits/{recorded['id']}/reject", headers=place.own).status_code == 403
    rejected = demo_client.post(f"/api/visits/{recorded['id']}/reject", headers=place.planner)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["batch_id"] is None
    assert households(demo_client, place.building) == place.households
    assert len(demo_client.get(f"/api/buildings/{place.building}/history").json()["versions"]) == versions
    assert demo_client.post(f"/api/visits/{recorded['id']}/approve", headers=place.planner).status_code == 409


def test_a_visit_of_a_building_retired_since_cannot_be_approved(
    demo_client: GridmapClient, demo_session: Session, place: Place
) -> None:
    recorded = visit(demo_client, place, place.own).json()
    demo_session.execute(text("DELETE FROM buildings WHERE id = :id"), {"id": place.building})
    refused = demo_client.post(f"/api/visits/{recorded['id']}/approve", headers=place.planner)
    assert refused.status_code == 409 and refused.json()["where"] == "building"
    assert demo_client.post(f"/api/visits/{recorded['id']}/reject", headers=place.planner).status_code == 200


def test_retries_with_one_idempotency_key_make_one_visit(demo_client: GridmapClient, place: Place) -> None:
    headers = place.own | {"Idempotency-Key": "visit-0001"}
    first = visit(demo_client, place, headers)
    second = visit(demo_client, place, headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    mine = demo_client.get("/api/visits", params={"building": place.building}, headers=place.own).json()
    assert mine["matched"] == 1
    # Someone else's key is never their visit.
    stolen = visit(demo_client, place, {"Idempotency-Key": "visit-0001"})
    assert stolen.status_code == 409 and stolen.json()["where"] == "Idempotency-Key"


def test_who_lists_which_visits(demo_client: GridmapClient, place: Place) -> None:
    mine = visit(demo_client, place, place.own).json()
    admins = visit(demo_client, place, {}).json()
    demo_client.post(f"/api/visits/{admins['id']}/reject", headers=place.planner)

    pending = demo_client.get("/api/visits", params={"status": "pending"}, headers=place.planner).json()
    assert [v["id"] for v in pending["visits"]] == [mine["id"]] and pending["matched"] == 1
    everything = demo_client.get("/api/visits", params={"building": place.building}, headers=place.planner).json()
    assert {v["id"] for v in everything["visits"]} == {mine["id"], admins["id"]}
    own = demo_client.get("/api/visits", headers=place.own).json()
    assert [v["id"] for v in own["visits"]] == [mine["id"]]
    assert demo_client.get("/api/visits", headers=place.other).json() == {"matched": 0, "visits": []}
    assert demo_client.get(f"/api/visits/{admins['id']}", headers=place.own).status_code == 404
    assert demo_client.get(f"/api/visits/{mine['id']}", headers=place.own).json()["note"] == NOTE
    assert demo_client.get("/api/visits", headers=demo_client.as_role("dispatcher")).status_code == 403
    assert demo_client.anonymous.get("/api/visits").status_code == 401
    assert demo_client.get("/api/visits", params={"status": "lost"}).status_code == 422


def test_visits_and_decisions_are_audited_without_the_note(demo_client: GridmapClient, place: Place) -> None:
    recorded = visit(demo_client, place, place.own).json()
    demo_client.post(f"/api/visits/{recorded['id']}/approve", json={"note": NOTE}, headers=place.planner)
    trail = demo_client.get("/api/audit", params={"action": "visit."}).json()["entries"]
    assert [e["action"] for e in trail][:2] == ["visit.approve", "visit.record"]
    assert trail[1]["after"]["observed"]["households"] == place.households + 5
    assert NOTE not in str(trail) and "13800000000" not in str(trail)
    # Nor on public endpoints.
    for path in (f"/api/buildings/{place.building}", f"/api/buildings/{place.building}/history"):
        assert "13800000000" not in demo_client.anonymous.get(path).text


@pytest.mark.parametrize(
    "body",
    [
        {"households": -1},
        {"population_floating": 10**9},
        {"note": "x" * 2001},
        {"visited_at": "2999-01-01T00:00:00+08:00"},
        {"location": {"lon": 121.55, "lat": 29.87, "crs": "mars"}},
        {"accuracy_m": -3},
    ],
)
def test_bad_visits_are_problems(demo_client: GridmapClient, place: Place, body: dict[str, Any]) -> None:
    response = demo_client.post(f"/api/buildings/{place.building}/visits", json=body, headers=place.own)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
