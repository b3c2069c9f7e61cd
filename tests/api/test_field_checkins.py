"""The field app's worker routes: check-ins honour Idempotency-Key (a phone sending what it queued offline makes one
row), and GET /api/workers/me/grids gives the worker's grids to draw and keep offline."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_events import two_grids
from tests.conftest import GridmapClient


def count_checkins(session: Session, user: str) -> int:
    return session.execute(
        text("SELECT count(*) FROM worker_checkins c JOIN users u ON u.id = c.user_id WHERE u.username = :u"),
        {"u": user},
    ).scalar_one()


def test_a_retried_check_in_is_made_once(demo_client: GridmapClient, demo_session: Session) -> None:
    (lon, lat, grid), _ = two_grids(demo_session)
    worker = demo_client.as_role("grid_worker", "worker-a", grids=(grid,))
    body = {"location": {"lon": lon, "lat": lat}, "accuracy_m": 12.5}
    key = {"Idempotency-Key": "0b5e4a3c-queued-on-the-phone"}

    first = demo_client.post("/api/workers/me/checkins", json=body, headers=worker | key)
    again = demo_client.post("/api/workers/me/checkins", json=body, headers=worker | key)
    assert first.status_code == 201, first.text
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # the same answer, community and street included
    assert first.json()["accuracy_m"] == 12.5 and first.json()["own_grid"] is True
    assert count_checkins(demo_session, "worker-a") == 1

    # The same key with another check-in is a conflict, never the first one's answer.
    moved = demo_client.post("/api/workers/me/checkins", json=body | {"accuracy_m": 30}, headers=worker | key)
    assert moved.status_code == 409 and moved.json()["where"] == "Idempotency-Key"
    # Keys belong to the account: another worker's same key makes their own check-in.
    other = demo_client.as_role("grid_worker", "worker-b", grids=(grid,))
    assert demo_client.post("/api/workers/me/checkins", json=body, headers=other | key).status_code == 201
    # Without a key every check-in counts.
    assert demo_client.post("/api/workers/me/checkins", json=body, headers=worker).status_code == 201
    assert count_checkins(demo_session, "worker-a") == 2


def test_my_grids_are_the_workers_grids_in_the_current_plan(demo_client: GridmapClient, demo_session: Session) -> None:
    (_, _, grid), _ = two_grids(demo_session)
    worker = demo_client.as_role("grid_worker", "worker-a", grids=(grid,))
    found = demo_client.get("/api/workers/me/grids", headers=worker)
    assert found.status_code == 200, found.text
    features = found.json()["features"]
    assert [f["properties"]["code"] for f in features] == [grid]
    assert features[0]["geometry"]["type"] == "MultiPolygon"
    assert found.headers["cache-control"] == "no-store"  # personal: never kept by a shared cache
    assert demo_client.get("/api/workers/me/grids", headers=demo_client.as_role("dispatcher")).status_code == 403
