"""What a geometry sent by a client may cost (issue 15, item 11): vertices, holes and parts are bounded before any
costly step (422 naming the limit and the value), and a plan edit runs within GRIDMAP_PLAN_EDIT_TIMEOUT_S (a
cancelled edit is a 503 problem that changed nothing, never a 500)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.geo.user_geometry import parse_geojson
from gis.plans.edits import adjacent_grids
from gis.settings import Settings
from tests.api.test_limits import assert_problem, draft, limit, plan_state


def square(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


def triangle(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y], [x + size, y], [x, y + size], [x, y]]


def holed(holes: int, center: tuple[float, float] = (121.55, 29.87)) -> dict[str, Any]:
    """A square about 2 km wide with `holes` tiny triangular holes in a grid inside it (20,000 of them: 80,005
    vertices, within the vertex limit)."""
    side = int(holes**0.5) + 1
    x0, y0 = center[0] - 0.01, center[1] - 0.01
    step = 0.02 / (side + 1)
    inner = [triangle(x0 + (i % side + 1) * step, y0 + (i // side + 1) * step, step / 4) for i in range(holes)]
    return {"type": "Polygon", "coordinates": [square(x0, y0, 0.02), *[ring[::-1] for ring in inner]]}


def redraw(client: TestClient, plan: dict[str, Any], polygon: dict[str, Any], grid: int | None = None) -> Any:
    grid = grid if grid is not None else client.get(f"/api/plans/{plan['id']}/grids").json()["features"][0]["id"]
    return client.post(
        f"/api/plans/{plan['id']}/redraw",
        json={"grid": grid, "polygon": polygon},
        headers={"If-Match": str(plan["version"])},
    )


def test_twenty_thousand_holes_are_refused_naming_the_limit(demo_session: Session, demo_client: TestClient) -> None:
    plan = draft(demo_client)
    before = plan_state(demo_session, plan["id"])
    body = assert_problem(redraw(demo_client, plan, holed(20_000)), 422, "polygon")
    assert (
        "20000 holes" in body["detail"] and "limit of 1000" in body["detail"] and "GRIDMAP_MAX_HOLES" in body["detail"]
    )
    assert plan_state(demo_session, plan["id"]) == before


def test_the_hole_limit_follows_the_settings(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, max_holes=3)
    plan = draft(demo_client)
    assert "4 holes" in assert_problem(redraw(demo_client, plan, holed(4)), 422, "polygon")["detail"]
    allowed = redraw(demo_client, plan, holed(3))
    assert allowed.status_code == 200, allowed.text  # three holes are within the bound: an ordinary edit


def test_a_repair_into_too_many_parts_is_refused() -> None:
    # A ring that crosses itself at every other vertex: valid only as many parts.
    zigzag = [[121.5 + k * 1e-3, 29.87 + (1e-3 if k % 2 else -1e-3)] for k in range(41)]
    crossing = [*zigzag, *[[x, 29.87 - (y - 29.87)] for x, y in reversed(zigzag)], zigzag[0]]
    polygon = {"type": "Polygon", "coordinates": [crossing]}
    with pytest.raises(InvalidInput, match=r"parts after repair, more than the limit of 5 \(GRIDMAP_MAX_PARTS\)"):
        parse_geojson(polygon, "Polygon", where="polygon", max_parts=5)
    assert parse_geojson(polygon, "Polygon", where="polygon", max_parts=100).geom_type == "MultiPolygon"


def test_the_vertex_bound_counts_holes_too(demo_client: TestClient, settings: Settings) -> None:
    limit(demo_client, settings, max_vertices=5 + 10 * 4 - 1)  # an outer ring of 5 positions, 10 holes of 4
    plan = draft(demo_client)
    body = assert_problem(redraw(demo_client, plan, holed(10)), 422, "polygon")
    assert "45 vertices" in body["detail"]


# -- statement time ---------------------------------------------------------------------------------------------


def test_an_edit_past_its_statement_time_is_a_503_that_changes_nothing(
    demo_engine: Engine, demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    """Another transaction holds the table merge reads (unit_adjacency): the edit waits, is cancelled at the
    configured time, and answers so; the plan is as it was and takes the next edit."""
    limit(demo_client, settings, plan_edit_timeout_s=0.3)
    # Without a statement time the edit would wait for ever: let it fail (a 500) in 10 s instead of hanging.
    demo_session.execute(text("SET LOCAL lock_timeout = '10s'"))
    plan = draft(demo_client)
    before = plan_state(demo_session, plan["id"])
    with demo_engine.connect() as other, Session(bind=other) as other_session:
        published = other_session.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one()
        pair = adjacent_grids(other_session, published)[0]
        codes = other.execute(text("SELECT code FROM grids WHERE id = ANY(:ids) ORDER BY id"), {"ids": list(pair)})
        ids = demo_session.execute(
            text("SELECT id FROM grids WHERE plan_id = :plan AND code = ANY(:codes) ORDER BY code"),
            {"plan": plan["id"], "codes": list(codes.scalars())},
        ).scalars()
        grids = list(ids)
        other.execute(text("SET lock_timeout = '10s'"))
        other.execute(text("LOCK TABLE unit_adjacency IN ACCESS EXCLUSIVE MODE"))
        response = demo_client.post(
            f"/api/plans/{plan['id']}/merge", json={"grids": grids}, headers={"If-Match": str(plan["version"])}
        )
        other.rollback()
    body = assert_problem(response, 503, "merge")
    assert "0.3 s" in body["detail"] and "GRIDMAP_PLAN_EDIT_TIMEOUT_S" in body["detail"]
    assert plan_state(demo_session, plan["id"]) == before
    after = demo_client.post(
        f"/api/plans/{plan['id']}/merge", json={"grids": grids}, headers={"If-Match": str(plan["version"])}
    )
    assert after.status_code == 200, after.text
    # The edit's statement time ended with the edit: the rest of the transaction runs as before.
    assert demo_session.execute(text("SHOW statement_timeout")).scalar_one() == "0"
