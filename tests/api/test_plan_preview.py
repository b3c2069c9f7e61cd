"""Issue 17, the planner's desk on the demo district in PostGIS: a rebalance previewed without writing anything and
applied exactly as previewed (by its token), the operation history with households moved and the current position,
compounds newly split in the diff, and the default band per community type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.plans.community_types import band_for_plan, community_type
from gis.settings import Settings, get_settings
from tests.api.test_plan_band import draft, send, state

BAND = {"min_households": 300, "max_households": 500}


def first_community(session: Session) -> str:
    return session.execute(text("SELECT code FROM communities ORDER BY code LIMIT 1")).scalar_one()


def written(session: Session, plan_id: int) -> tuple[Any, ...]:
    """Everything an edit writes: assignments and grids, the plan's row, its operation log."""
    plan = session.execute(
        text("SELECT version, min_households, max_households FROM grid_plans WHERE id = :p"), {"p": plan_id}
    ).one()
    log = session.execute(text("SELECT seq, kind FROM plan_operations WHERE plan_id = :p ORDER BY seq"), {"p": plan_id})
    sequence = session.execute(text("SELECT last_value FROM grids_id_seq")).scalar_one()
    return (*state(session, plan_id), tuple(plan), tuple(log.all()), sequence)


def preview(client: TestClient, plan: dict[str, Any], body: dict[str, Any]) -> Any:
    return client.post(f"/api/plans/{plan['id']}/balance/preview", json=body)


def test_a_preview_writes_nothing_and_apply_gives_exactly_the_preview(
    demo_session: Session, demo_client: TestClient
) -> None:
    plan = draft(demo_client)
    community = first_community(demo_session)
    body = {"community": community, **BAND, "seed": 3}
    before = written(demo_session, plan["id"])

    response = preview(demo_client, plan, body)
    assert response.status_code == 200, response.text
    proposal = response.json()
    assert written(demo_session, plan["id"]) == before  # no row, no version, no log entry, no grid id taken
    assert proposal["version"] == plan["version"] and proposal["balance"]["satisfied"]
    features = proposal["grids"]["features"]
    households = sorted(f["properties"]["households"] for f in features)
    assert households == proposal["balance"]["households"] and all(300 <= h <= 500 for h in households)
    assert all(0 < f["properties"]["compactness"] <= 1 for f in features)
    assert all(f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in features)
    assert isinstance(proposal["split_compounds"], list)

    applied = send(demo_client, plan, "POST", "/balance", {**body, "token": proposal["token"]})
    assert applied.status_code == 200, applied.text
    grids = demo_client.get(f"/api/plans/{plan['id']}/grids").json()["features"]
    mine = [g for g in grids if g["properties"]["community_code"] == community]
    assert sorted(g["properties"]["households"] for g in mine) == households
    # Grids the proposal keeps hold exactly the units it gave them (same households, same outline).
    kept = {f["properties"]["grid"]: f["properties"] for f in features if f["properties"]["grid"] is not None}
    by_id = {g["id"]: g["properties"] for g in mine}
    assert kept and all(by_id[grid]["households"] == p["households"] for grid, p in kept.items())
    removed = set(proposal["removed"])
    assert not removed & {g["id"] for g in grids}


def test_apply_refuses_a_stale_preview_and_changes_nothing(demo_session: Session, demo_client: TestClient) -> None:
    plan = draft(demo_client)
    community = first_community(demo_session)
    body = {"community": community, **BAND}
    token = preview(demo_client, plan, body).json()["token"]
    assert send(demo_client, plan, "PATCH", "", {"min_households": 250, "max_households": 520}).status_code == 200
    before = written(demo_session, plan["id"])

    refused = send(demo_client, plan, "POST", "/balance", {**body, "token": token}, headers={"Accept-Language": "zh"})
    assert refused.status_code == 409 and refused.json()["where"] == "token"
    assert "请重新预览" in refused.json()["detail"]
    assert written(demo_session, plan["id"]) == before


def test_a_preview_of_the_published_plan_or_a_bad_body_is_refused(demo_client: TestClient) -> None:
    published = demo_client.get("/api/plans").json()[0]
    answer = demo_client.post(f"/api/plans/{published['id']}/balance/preview", json={"grids": [1, 2]})
    assert answer.status_code == 409 and answer.json()["where"] == "plan"
    plan = draft(demo_client)
    assert preview(demo_client, plan, {}).status_code == 422
    assert preview(demo_client, plan, {"community": "nowhere"}).status_code == 404
    assert demo_client.anonymous.post(f"/api/plans/{plan['id']}/balance/preview", json={}).status_code == 401


def test_the_history_counts_households_moved_and_marks_the_current_position(
    demo_session: Session, demo_client: TestClient
) -> None:
    plan = draft(demo_client)
    grids = demo_client.get(f"/api/plans/{plan['id']}/grids").json()["features"]
    target, other = grids[0], next(g for g in grids[1:] if g["properties"]["households"] > 0)
    buildings = demo_session.execute(
        text("""SELECT b.id, b.households FROM buildings b JOIN assignments a ON a.unit_id = b.unit_id
                AND a.plan_id = :plan WHERE a.grid_id = :grid AND b.households > 0 ORDER BY b.id LIMIT 2"""),
        {"plan": plan["id"], "grid": other["id"]},
    ).all()
    units_households = demo_session.execute(
        text("SELECT sum(u.households) FROM units u WHERE u.id IN (SELECT unit_id FROM buildings WHERE id = ANY(:b))"),
        {"b": [b.id for b in buildings]},
    ).scalar_one()
    moved = send(demo_client, plan, "POST", "/reassign", {"grid": target["id"], "buildings": [b.id for b in buildings]})
    assert moved.status_code == 200, moved.text

    log = demo_client.get(f"/api/plans/{plan['id']}/operations").json()
    assert [(o["kind"], o["current"]) for o in log] == [("create", False), ("reassign", True)]
    assert log[1]["households_moved"] == units_households and log[1]["units_moved"] >= 1
    assert send(demo_client, plan, "POST", "/undo").status_code == 200
    log = demo_client.get(f"/api/plans/{plan['id']}/operations").json()
    assert [(o["kind"], o["undone"], o["current"]) for o in log] == [
        ("create", False, True),
        ("reassign", True, False),
        ("undo", False, False),
    ]
    assert log[2]["households_moved"] == units_households  # the undo moved them back


def test_the_diff_lists_compounds_newly_split(demo_session: Session, demo_client: TestClient) -> None:
    current = demo_client.get("/api/plans").json()[0]
    plan = draft(demo_client)
    # A compound kept in one grid now, with units in more than one building: move one of its buildings away.
    compound = demo_session.execute(
        text("""SELECT u.community_id, u.compound, min(a.grid_id) AS grid FROM units u
                JOIN assignments a ON a.unit_id = u.id AND a.plan_id = :plan
                WHERE u.compound <> '' GROUP BY u.community_id, u.compound
                HAVING count(DISTINCT a.grid_id) = 1 AND count(*) > 1 ORDER BY u.compound LIMIT 1"""),
        {"plan": plan["id"]},
    ).one()
    building, neighbour = demo_session.execute(
        text("""SELECT b.id, gb.grid_id FROM buildings b JOIN units u ON u.id = b.unit_id
                JOIN unit_adjacency j ON j.unit_a = u.id OR j.unit_b = u.id
                JOIN assignments gb ON gb.plan_id = :plan
                     AND gb.unit_id = CASE WHEN j.unit_a = u.id THEN j.unit_b ELSE j.unit_a END
                WHERE u.community_id = :community AND u.compound = :compound AND gb.grid_id <> :grid
                ORDER BY b.id LIMIT 1"""),
        {"plan": plan["id"], "community": compound.community_id, "compound": compound.compound, "grid": compound.grid},
    ).one()
    assert send(demo_client, plan, "POST", "/reassign", {"grid": neighbour, "buildings": [building]}).status_code == 200

    diff = demo_client.get(f"/api/plans/{plan['id']}/diff", params={"against": current["id"]}).json()
    split = [c for c in diff["compounds_split"] if c["compound"] == compound.compound]
    assert len(split) == 1 and len(split[0]["grids"]) == 2 and split[0]["previous_grids"] == 1
    assert split[0]["households"] > 0 and split[0]["geometry"]["type"] == "MultiPolygon"
    # The other way round nothing is newly split: the current plan keeps the compound whole.
    back = demo_client.get(f"/api/plans/{current['id']}/diff", params={"against": plan["id"]}).json()
    assert compound.compound not in {c["compound"] for c in back["compounds_split"]}


def test_community_types_follow_the_statistical_code() -> None:
    assert community_type("330203001001") == "community"
    assert community_type("330203001199") == "community"
    assert community_type("330203001201") == "village"
    assert community_type("330203001399") == "village"
    assert community_type("C1") == community_type(None) == "community"


@pytest.fixture
def typed_bands(demo_client: TestClient) -> Iterator[Settings]:
    """The app configured with a band per community type (the demo's communities are residents' committees)."""
    settings = get_settings().model_copy(
        update={"household_band_by_type": {"community": (260, 460), "village": (160, 255)}}
    )
    app = demo_client.app
    assert isinstance(app, FastAPI)
    before = app.state.settings
    app.state.settings = settings
    yield settings
    app.state.settings = before


def test_a_new_plan_gets_the_band_of_its_community_type(
    demo_session: Session, demo_client: TestClient, typed_bands: Settings
) -> None:
    published = demo_client.get("/api/plans").json()[0]
    # A base with a band passes it on; without one (an imported layer) the type's band applies.
    assert (draft(demo_client)["min_households"], draft(demo_client)["max_households"]) == (300, 500)
    demo_session.execute(text("UPDATE grid_plans SET min_households = NULL, max_households = NULL"))
    plan = draft(demo_client)
    assert (plan["min_households"], plan["max_households"]) == (260, 460)
    # Made villages (codes 200–399), the same plan takes the village band.
    demo_session.execute(text("UPDATE communities SET code = left(code, 9) || '2' || right(code, 2)"))
    assert band_for_plan(demo_session, published["id"], (300, 500), typed_bands.household_band_by_type) == (160, 255)
    village = draft(demo_client)
    assert (village["min_households"], village["max_households"]) == (160, 255)
    # A rebalance without a band takes its community's.
    community = first_community(demo_session)
    answer = preview(demo_client, village, {"community": community}).json()
    assert answer["band"] == {"min_households": 160, "max_households": 255}
