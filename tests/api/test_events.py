"""The incident event stream (GET /api/events, Server-Sent Events): reports and transitions after a cursor, a grid
worker only those of their grids, dispatchers all, the public none; EventSource's ticket instead of a header."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import GridmapClient


def two_grids(session: Session) -> list[tuple[float, float, str]]:
    """A building's point in each of two grids of the published plan: (lon, lat, grid code)."""
    rows = session.execute(
        text("""SELECT DISTINCT ON (g.code) ST_X(p), ST_Y(p), g.code
                FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings) b
                JOIN grids g ON ST_Covers(g.geom, b.p)
                JOIN grid_plans pl ON pl.id = g.plan_id AND pl.status = 'published'
                ORDER BY g.code LIMIT 2"""),
    ).all()
    assert len(rows) == 2
    return [tuple(r) for r in rows]


def read_events(client: TestClient, **kwargs: Any) -> tuple[int, list[tuple[str, dict]], str]:
    """(status, [(id, data)], content type) of a stream that ends by itself (follow=false)."""
    params = {"follow": "false"} | kwargs.pop("params", {})
    with client.stream("GET", "/api/events", params=params, **kwargs) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, [], response.headers["content-type"]
        events, current = [], {}
        for line in response.iter_lines():
            if line.startswith("id: "):
                current["id"] = line[4:]
            elif line.startswith("event: "):
                assert line == "event: incident"
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                events.append((current["id"], current["data"]))
                current = {}
        return response.status_code, events, response.headers["content-type"]


def report(client: TestClient, lon: float, lat: float) -> int:
    made = client.post("/api/incidents", json={"category": "sanitation", "location": {"lon": lon, "lat": lat}})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def test_each_audience_gets_its_events_after_the_cursor(stream_client: GridmapClient, demo_session: Session) -> None:
    (lon_a, lat_a, grid_a), (lon_b, lat_b, _) = two_grids(demo_session)
    worker = stream_client.as_role("grid_worker", "worker-a", grids=(grid_a,))
    dispatcher = stream_client.as_role("dispatcher")
    start = demo_session.execute(text("SELECT COALESCE(max(id), 0) FROM incident_events")).scalar_one()

    mine, theirs = report(stream_client, lon_a, lat_a), report(stream_client, lon_b, lat_b)
    for action in ("register", "dispatch"):
        moved = stream_client.post(f"/api/incidents/{mine}/transitions", json={"action": action}, headers=dispatcher)
        assert moved.status_code == 200, moved.text

    status, seen, kind = read_events(stream_client, headers=dispatcher | {"Last-Event-ID": str(start)})
    assert status == 200 and kind.startswith("text/event-stream")
    assert [(e["incident_id"], e["action"]) for _, e in seen] == [
        (mine, "report"),
        (theirs, "report"),
        (mine, "register"),
        (mine, "dispatch"),
    ]
    assert [int(i) for i, _ in seen] == sorted(int(i) for i, _ in seen)  # ids increase: a cursor to resume from
    first = seen[0][1]
    assert first["grid"]["code"] == grid_a and first["status"] == "dispatched" and first["to_status"] == "reported"
    assert "note" not in first and "description" not in first and "reporter_contact" not in first

    _, for_worker, _ = read_events(stream_client, headers=worker, params={"after": start})
    assert [(e["incident_id"], e["action"]) for _, e in for_worker] == [
        (mine, "report"),
        (mine, "register"),
        (mine, "dispatch"),
    ]
    # Resuming from the last id seen gives what came after it only.
    resume = for_worker[1][0]
    _, rest = read_events(stream_client, headers=worker | {"Last-Event-ID": resume})[:2]
    assert [e["action"] for _, e in rest] == ["dispatch"]
    # Without a cursor a stream starts now: nothing old.
    assert read_events(stream_client, headers=dispatcher)[1] == []


def test_who_may_follow_the_stream(stream_client: GridmapClient) -> None:
    assert read_events(stream_client.anonymous)[0] == 401
    assert read_events(stream_client, headers=stream_client.as_role("planner"))[0] == 403
    assert read_events(stream_client.anonymous, params={"ticket": "not-a-ticket"})[0] == 401
    status, _, kind = read_events(stream_client, headers=stream_client.as_role("dispatcher") | {"Last-Event-ID": "x"})
    assert status == 422 and kind.startswith("application/problem+json")


def test_a_ticket_opens_the_stream_and_nothing_else(stream_client: GridmapClient, demo_session: Session) -> None:
    (lon, lat, _), _ = two_grids(demo_session)
    dispatcher = stream_client.as_role("dispatcher")
    assert stream_client.anonymous.post("/api/events/ticket").status_code == 401
    assert stream_client.post("/api/events/ticket", headers=stream_client.as_role("viewer")).status_code == 403
    issued = stream_client.post("/api/events/ticket", headers=dispatcher)
    assert issued.status_code == 200, issued.text
    ticket = issued.json()["ticket"]
    start = demo_session.execute(text("SELECT COALESCE(max(id), 0) FROM incident_events")).scalar_one()
    made = report(stream_client, lon, lat)

    status, seen, _ = read_events(stream_client.anonymous, params={"ticket": ticket, "after": start})
    assert status == 200 and [e["incident_id"] for _, e in seen] == [made]
    # A ticket is no bearer token: it opens nothing else.
    assert stream_client.anonymous.get("/api/auth/me", headers={"Authorization": f"Bearer {ticket}"}).status_code == 401


def test_a_followed_stream_ends_after_its_time_for_the_client_to_reconnect(stream_client: GridmapClient) -> None:
    dispatcher = stream_client.as_role("dispatcher")
    status, seen, _ = read_events(stream_client, headers=dispatcher, params={"follow": "true", "max_seconds": 1})
    assert status == 200 and seen == []
