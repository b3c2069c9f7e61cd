"""Grid plans over HTTP on the demo district in PostGIS: drafts, edits, concurrency, undo, publish, diff."""

from __future__ import annotations

import json
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.plans.edits import adjacent_grids


def draft(client: TestClient, name: str = "草案") -> dict[str, Any]:
    response = client.post("/api/plans", json={"base": "current", "name": name})
    assert response.status_code == 201, response.text
    return response.json()


def grids(client: TestClient, plan_id: int) -> dict[int, dict[str, Any]]:
    collection = client.get(f"/api/plans/{plan_id}/grids").json()
    return {f["id"]: f | f["properties"] for f in collection["features"]}


def post(
    client: TestClient, plan: dict[str, Any], edit: str, body: dict[str, Any] | None = None, version: int | None = None
) -> Any:
    version = plan["version"] if version is None else version
    response = client.post(f"/api/plans/{plan['id']}/{edit}", json=body, headers={"If-Match": f'"{version}"'})
    if response.status_code == 200:
        plan["version"] = response.json()["plan"]["version"]
    return response


def adjacent_pair(session: Session, plan_id: int) -> tuple[int, int]:
    return adjacent_grids(session, plan_id)[0]


def state(session: Session, plan_id: int) -> tuple[Any, ...]:
    """Everything an undo must restore: assignments, grid rows and their derived values."""
    assignments = session.execute(
        text("SELECT unit_id, grid_id FROM assignments WHERE plan_id = :p ORDER BY 1"), {"p": plan_id}
    ).all()
    rows = session.execute(
        text("""SELECT id, code, name, lineage, community_id, households, buildings, population,
                                          ST_AsBinary(ST_Normalize(geom)) FROM grids WHERE plan_id = :p ORDER BY id"""),
        {"p": plan_id},
    ).all()
    return tuple(assignments), tuple(rows)


def test_published_plan_is_made_of_units(demo_session: Session, demo_client: TestClient) -> None:
    plans = demo_client.get("/api/plans").json()
    assert [p["status"] for p in plans] == ["published"]
    counts = demo_session.execute(
        text("""
        SELECT (SELECT count(*) FROM units), (SELECT count(*) FROM assignments),
               (SELECT count(*) FROM buildings WHERE unit_id IS NULL),
               (SELECT sum(households) FROM grids), (SELECT sum(households) FROM buildings)""")
    ).one()
    units, assigned, homeless, grid_households, building_households = counts
    assert units == assigned and homeless == 0 and grid_households == building_households
    validation = demo_client.get(f"/api/plans/{plans[0]['id']}/validation").json()
    assert validation["valid"], validation["errors"][:3]


def test_draft_copies_the_current_plan(demo_client: TestClient) -> None:
    current = demo_client.get("/api/plans").json()[0]
    plan = draft(demo_client)
    assert plan["status"] == "draft" and plan["version"] == 1 and plan["base_plan_id"] == current["id"]
    copied, original = grids(demo_client, plan["id"]), grids(demo_client, current["id"])
    assert sorted(g["code"] for g in copied.values()) == sorted(g["code"] for g in original.values())
    properties = next(iter(copied.values()))["properties"]
    assert {"id", "code", "community_code", "households", "buildings", "population", "area_m2"} <= set(properties)


def test_merge_keeps_households_and_area(demo_session: Session, demo_client: TestClient) -> None:
    plan = draft(demo_client)
    a, b = adjacent_pair(demo_session, plan["id"])
    before = grids(demo_client, plan["id"])

    response = post(demo_client, plan, "merge", {"grids": [a, b]})

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"' and response.json()["grids"]["removed"] == [b]
    after = grids(demo_client, plan["id"])
    assert b not in after and len(after) == len(before) - 1
    assert after[a]["households"] == before[a]["households"] + before[b]["households"]
    assert after[a]["area_m2"] == pytest.approx(before[a]["area_m2"] + before[b]["area_m2"], rel=1e-6)
    assert shapely.geometry.shape(after[a]["geometry"]).geom_type in ("Polygon", "MultiPolygon")


def test_merge_of_grids_that_do_not_touch_is_refused(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    features = sorted(grids(demo_client, plan["id"]).values(), key=lambda g: g["id"])
    first = shapely.geometry.shape(features[0]["geometry"])
    far = max(features, key=lambda g: first.distance(shapely.geometry.shape(g["geometry"])))
    response = post(demo_client, plan, "merge", {"grids": [features[0]["id"], far["id"]]})
    assert response.status_code == 422
    assert "adjacent" in response.json()["detail"] and plan["version"] == 1


def test_stale_or_missing_version_changes_nothing(demo_session: Session, demo_client: TestClient) -> None:
    plan = draft(demo_client)
    a, b = adjacent_pair(demo_session, plan["id"])
    before = state(demo_session, plan["id"])

    stale = post(demo_client, plan, "merge", {"grids": [a, b]}, version=7)
    missing = demo_client.post(f"/api/plans/{plan['id']}/merge", json={"grids": [a, b]})

    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert "version 1" in stale.json()["detail"]
    assert missing.status_code == 428
    assert state(demo_session, plan["id"]) == before
    assert demo_client.get(f"/api/plans/{plan['id']}").json()["version"] == 1


def test_split_partitions_a_grid_exactly(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    target = max(grids(demo_client, plan["id"]).values(), key=lambda g: g["households"])
    shape = shapely.geometry.shape(target["geometry"])
    west, south, east, north = shape.bounds
    middle = (west + east) / 2
    line = {"type": "LineString", "coordinates": [[middle, south - 0.001], [middle, north + 0.001]]}

    response = post(demo_client, plan, "split", {"grid": target["id"], "line": line})

    assert response.status_code == 200, response.text
    new = response.json()["new_grids"]
    after = grids(demo_client, plan["id"])
    pieces = [after[target["id"]]] + [after[g["id"]] for g in new]
    assert sum(p["households"] for p in pieces) == target["households"]
    assert sum(p["buildings"] for p in pieces) == target["buildings"]
    assert sum(p["area_m2"] for p in pieces) == pytest.approx(target["area_m2"], abs=0.5)  # rounded to 0.1 m²
    union = shapely.union_all([shapely.geometry.shape(p["geometry"]) for p in pieces])
    assert union.symmetric_difference(shape).area < 1e-6 * shape.area
    assert all(len(g["code"]) == 20 for g in new)


def test_split_with_a_line_that_misses_the_grid_is_refused(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    target = next(iter(grids(demo_client, plan["id"]).values()))
    west, south, _, _ = shapely.geometry.shape(target["geometry"]).bounds
    line = {"type": "LineString", "coordinates": [[west - 0.01, south - 0.01], [west - 0.005, south - 0.01]]}
    response = post(demo_client, plan, "split", {"grid": target["id"], "line": line})
    assert response.status_code == 422 and "does not cross" in response.json()["detail"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"type": "Point", "coordinates": [121.55, 29.87]}, "expected a GeoJSON LineString"),
        ({"type": "LineString", "coordinates": [[29.87, 121.55], [29.88, 121.56]]}, "swapped"),
        ({"type": "LineString", "coordinates": [[121.55]]}, "LineString"),
    ],
)
def test_bad_split_lines_are_422_problems(demo_client: TestClient, line: dict, message: str) -> None:
    plan = draft(demo_client)
    response = post(demo_client, plan, "split", {"grid": 1, "line": line})
    assert response.status_code == 422 and message in response.json()["detail"]
    assert response.json()["where"] == "line"


def test_redraw_and_reassign_move_units(demo_session: Session, demo_client: TestClient) -> None:
    plan = draft(demo_client)
    a, b = adjacent_pair(demo_session, plan["id"])
    building = demo_session.execute(
        text("""
        SELECT b.id FROM buildings b JOIN assignments x ON x.unit_id = b.unit_id AND x.plan_id = :p
        WHERE x.grid_id = :b AND b.households > 0 ORDER BY b.id LIMIT 1"""),
        {"p": plan["id"], "b": b},
    ).scalar_one()
    before = grids(demo_client, plan["id"])

    response = post(demo_client, plan, "reassign", {"grid": a, "buildings": [building]})

    assert response.status_code == 200, response.text
    after = grids(demo_client, plan["id"])
    assert after[a]["households"] + after[b]["households"] == before[a]["households"] + before[b]["households"]
    assert after[a]["buildings"] > before[a]["buildings"]

    unit = demo_session.execute(
        text("""
        SELECT ST_AsGeoJSON(ST_Buffer(ST_PointOnSurface(u.geom), 0.00001)) FROM assignments x
        JOIN units u ON u.id = x.unit_id WHERE x.plan_id = :p AND x.grid_id = :b ORDER BY u.id LIMIT 1"""),
        {"p": plan["id"], "b": b},
    ).scalar_one()
    response = post(demo_client, plan, "redraw", {"grid": a, "polygon": json.loads(unit)})
    assert response.status_code == 200, response.text
    assert grids(demo_client, plan["id"])[a]["buildings"] >= after[a]["buildings"]


def test_undo_restores_the_previous_state_exactly(demo_session: Session, demo_client: TestClient) -> None:
    plan = draft(demo_client)
    original = state(demo_session, plan["id"])
    a, b = adjacent_pair(demo_session, plan["id"])
    assert post(demo_client, plan, "merge", {"grids": [a, b]}).status_code == 200
    merged = state(demo_session, plan["id"])
    assert post(demo_client, plan, "renumber").status_code == 200

    assert post(demo_client, plan, "undo").status_code == 200
    assert state(demo_session, plan["id"]) == merged
    response = post(demo_client, plan, "undo")
    assert response.status_code == 200 and response.json()["undid"]["kind"] == "merge"
    assert state(demo_session, plan["id"]) == original
    log = demo_client.get(f"/api/plans/{plan['id']}/operations").json()
    assert [(o["kind"], o["undone"]) for o in log] == [
        ("create", False),
        ("merge", True),
        ("renumber", True),
        ("undo", False),
        ("undo", False),
    ]
    assert post(demo_client, plan, "undo").status_code == 409


def test_balance_puts_a_community_in_the_band(demo_session: Session, demo_client: TestClient) -> None:
    plan = draft(demo_client)
    community = demo_session.execute(text("SELECT code FROM communities ORDER BY code LIMIT 1")).scalar_one()

    response = post(
        demo_client, plan, "balance", {"community": community, "min_households": 300, "max_households": 500}
    )

    assert response.status_code == 200, response.text
    outcome = response.json()["balance"]
    assert outcome["satisfied"], outcome["problems"]
    loads = [g["households"] for g in grids(demo_client, plan["id"]).values() if g["community_code"] == community]
    assert loads and all(300 <= h <= 500 for h in loads)
    validation = demo_client.get(f"/api/plans/{plan['id']}/validation").json()
    assert not [e for e in validation["errors"] if e["type"] == "non_contiguous"]


def test_renumber_gives_standard_codes_and_a_map(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    response = post(demo_client, plan, "renumber", {"layout": "beijing"})
    assert response.status_code == 200, response.text
    codes = [g["code"] for g in grids(demo_client, plan["id"]).values()]
    assert all(len(c) == 15 and c.isdigit() for c in codes) and len(set(codes)) == len(codes)
    assert len(response.json()["codes"]) == len(codes)
    logged = demo_client.get(f"/api/plans/{plan['id']}/operations").json()[-1]
    assert logged["kind"] == "renumber" and logged["payload"]["result"]["codes"] == response.json()["codes"]


def test_publish_refuses_errors_then_publishes(demo_session: Session, demo_client: TestClient) -> None:
    old = demo_client.get("/api/plans").json()[0]
    plan = draft(demo_client)
    community = demo_session.execute(text("SELECT code FROM communities ORDER BY code LIMIT 1")).scalar_one()
    assert (
        post(
            demo_client, plan, "balance", {"community": community, "min_households": 300, "max_households": 500}
        ).status_code
        == 200
    )
    a, b = adjacent_pair(demo_session, plan["id"])
    assert post(demo_client, plan, "merge", {"grids": [a, b]}).status_code == 200  # now above 500

    refused = post(demo_client, plan, "publish")
    assert refused.status_code == 409 and "households_above" in refused.json()["detail"]

    assert post(demo_client, plan, "undo").status_code == 200
    published = demo_client.post(f"/api/plans/{plan['id']}/publish", headers={"If-Match": str(plan["version"])})
    assert published.status_code == 200, published.text
    statuses = {p["id"]: (p["status"], p["effective_to"] is not None) for p in demo_client.get("/api/plans").json()}
    assert statuses[plan["id"]] == ("published", False) and statuses[old["id"]] == ("retired", True)
    served = demo_client.get("/api/grids", params={"limit": 1}).json()["features"][0]["properties"]["plan_id"]
    assert served == plan["id"]
    assert post(demo_client, plan, "merge", {"grids": [a, b]}).status_code == 409  # published: no more edits


def test_diff_follows_grids_across_plans(demo_session: Session, demo_client: TestClient) -> None:
    base = demo_client.get("/api/plans").json()[0]
    plan = draft(demo_client)
    a, b = adjacent_pair(demo_session, plan["id"])
    before = grids(demo_client, plan["id"])
    assert post(demo_client, plan, "merge", {"grids": [a, b]}).status_code == 200

    changes = demo_client.get(f"/api/plans/{plan['id']}/diff", params={"against": base["id"]}).json()["grids"]

    by_status = {c["status"]: c for c in changes}
    assert set(by_status) == {"changed", "removed"}
    assert by_status["changed"]["households_in"] == before[b]["households"]
    assert by_status["removed"]["previous_code"] == before[b]["code"]
    assert by_status["removed"]["households_out"] == before[b]["households"]
