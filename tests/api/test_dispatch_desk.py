"""The dispatcher's desk over HTTP (issue 17): queue filters, search and order; dispatch to a department and a
worker, reassignment; the event stream at /api/incidents/events."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_incidents import file_report, somewhere
from tests.conftest import GridmapClient

AsRole = Callable[..., dict[str, str]]


def _ids(page: dict) -> list[int]:
    return [f["id"] for f in page["features"]]


def _registered(client: GridmapClient, session: Session, n: int = 0, **extra: str) -> dict:
    made = file_report(client, session, n=n, **extra)
    assert made.status_code == 201, made.text
    moved = client.post(f"/api/incidents/{made.json()['id']}/transitions", json={"action": "register"})
    assert moved.status_code == 200, moved.text
    return made.json()


def _worker_id(session: Session, username: str) -> int:
    return int(session.execute(text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar_one())


def test_queue_filters_by_channel_and_searches_by_number_and_text(
    demo_session: Session, demo_client: GridmapClient
) -> None:
    hotline = file_report(demo_client, demo_session, channel="hotline", description="井盖缺失 东门").json()
    wechat = file_report(demo_client, demo_session, n=1, channel="wechat", description="路灯不亮").json()

    def listed(**params: str) -> list[int]:
        response = demo_client.get("/api/incidents", params={"limit": "1000", **params})
        assert response.status_code == 200, response.text
        return _ids(response.json())

    assert hotline["id"] in listed(channel="hotline") and wechat["id"] not in listed(channel="hotline")
    assert listed(q="井盖缺失") == [hotline["id"]]  # text in the description
    assert listed(q=f"#{wechat['id']}") == [wechat["id"]]  # the id
    number = hotline["tracking_number"]
    spelled = f"{number[:4].lower()}-{number[4:]}"  # as a resident reads it out
    assert listed(q=spelled) == [hotline["id"]]
    assert listed(tracking_number=spelled) == [hotline["id"]]
    assert listed(q="100%_") == []  # wildcards are literal
    page = demo_client.get("/api/incidents", params={"q": "井盖缺失"}).json()
    assert page["features"][0]["properties"]["tracking_number"] == number


def test_search_is_for_the_dispatch_centre(demo_client: GridmapClient, as_role: AsRole) -> None:
    assert demo_client.anonymous.get("/api/incidents", params={"q": "井盖"}).status_code == 401
    viewer = demo_client.get("/api/incidents", params={"tracking_number": "ABCD2345"}, headers=as_role("viewer"))
    assert viewer.status_code == 403
    zh = demo_client.anonymous.get("/api/incidents", params={"q": "x"}, headers={"Accept-Language": "zh-CN"})
    assert "搜索事件" in zh.json()["detail"]


def test_queue_sorts_by_nearest_deadline(demo_session: Session, demo_client: GridmapClient) -> None:
    first = _registered(demo_client, demo_session)  # registered: the dispatch stage's deadline
    second = file_report(demo_client, demo_session, n=1).json()  # reported: the register stage's deadline
    demo_session.execute(
        text("UPDATE incidents SET deadline_at = now() + make_interval(hours => :h) WHERE id = :id"),
        [{"h": 5, "id": first["id"]}, {"h": 1, "id": second["id"]}],
    )
    page = demo_client.get("/api/incidents", params={"sort": "deadline", "limit": "1000"}).json()
    ids = [i for i in _ids(page) if i in (first["id"], second["id"])]
    assert ids == [second["id"], first["id"]]
    deadlines = [f["properties"]["deadline_at"] for f in page["features"]]
    dated = [d for d in deadlines if d is not None]
    assert dated == sorted(dated) and deadlines[: len(dated)] == dated  # no deadline: last
    assert demo_client.get("/api/incidents", params={"sort": "oldest"}).status_code == 422


def test_dispatch_to_a_department_and_a_worker_of_the_grid(
    demo_session: Session, demo_client: GridmapClient, as_role: AsRole
) -> None:
    _, _, code = somewhere(demo_session)
    as_role("grid_worker", "desk-in-grid", grids=(code,))
    as_role("grid_worker", "desk-elsewhere")
    incident = _registered(demo_client, demo_session)
    options = demo_client.get(f"/api/incidents/{incident['id']}/dispatch-options")
    assert options.status_code == 200, options.text
    body = options.json()
    assert body["department"] == "环卫所" and body["departments"][0] == "环卫所" and "派出所" in body["departments"]
    names = [w["name"] for w in body["workers"]]
    in_grid = [w for w in body["workers"] if w["in_grid"]]
    assert in_grid and names[: len(in_grid)] == [w["name"] for w in in_grid]  # the grid's workers first
    mine = _worker_id(demo_session, "desk-in-grid")
    assert any(w["id"] == mine and code in w["grids"] for w in in_grid)
    assert (
        demo_client.get(f"/api/incidents/{incident['id']}/dispatch-options", headers=as_role("viewer")).status_code
        == 403
    )

    sent = demo_client.post(
        f"/api/incidents/{incident['id']}/transitions",
        json={"action": "dispatch", "department": "市政管理所", "worker": mine},
    )
    assert sent.status_code == 200, sent.text
    done = sent.json()
    assert done["status"] == "dispatched" and done["department"] == "市政管理所"
    assert done["assignee_id"] == mine and done["assignee_name"]
    assert done["history"][-1]["details"]["worker"]["id"] == mine
    listed = demo_client.get("/api/incidents", params={"assignee": str(mine)}).json()
    assert _ids(listed) == [incident["id"]]
    assert _ids(demo_client.get("/api/incidents", params={"department": "市政管理所"}).json()) == [incident["id"]]

    # 改派: another worker, same status and deadline, a `reassign` event
    other = _worker_id(demo_session, "desk-elsewhere")
    moved = demo_client.post(f"/api/incidents/{incident['id']}/assignment", json={"worker": other, "note": "换人"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["assignee_id"] == other and moved.json()["status"] == "dispatched"
    assert moved.json()["deadline_at"] == done["deadline_at"]
    assert moved.json()["history"][-1]["action"] == "reassign"


def test_dispatch_targets_are_checked(demo_session: Session, demo_client: GridmapClient, as_role: AsRole) -> None:
    incident = _registered(demo_client, demo_session)
    url = f"/api/incidents/{incident['id']}"
    as_role("viewer")  # makes the user test-viewer
    viewer = _worker_id(demo_session, "test-viewer")
    for body, field in (
        ({"action": "dispatch", "department": "交通队"}, "department"),
        ({"action": "dispatch", "worker": viewer}, "worker"),  # not a grid worker
        ({"action": "dispatch", "worker": 2**40}, "worker"),
        ({"action": "mark_duplicate", "duplicate_of": 1, "worker": viewer}, "worker"),
    ):
        refused = demo_client.post(f"{url}/transitions", json=body, headers={"Accept-Language": "zh"})
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["errors"][0]["field"] == field if "errors" in problem else field in problem["detail"]
        assert any(word in problem["detail"] for word in ("网格员", "责任部门")), problem
    assert demo_client.get(url).json()["status"] == "registered"  # nothing changed
    # Only dispatched (or in progress) incidents are reassigned.
    early = demo_client.post(f"{url}/assignment", json={"department": "派出所"})
    assert early.status_code == 409 and "reassign" in early.json()["detail"]
    assert demo_client.post(f"{url}/assignment", json={}).status_code == 422


def test_the_stream_is_also_at_api_incidents_events(
    stream_client: GridmapClient, demo_session: Session, as_role: AsRole
) -> None:
    start = demo_session.execute(text("SELECT COALESCE(max(id), 0) FROM incident_events")).scalar_one()
    made = file_report(stream_client, demo_session).json()
    ticket = stream_client.post("/api/incidents/events/ticket")
    assert ticket.status_code == 200, ticket.text
    with stream_client.anonymous.stream(
        "GET",
        "/api/incidents/events",
        params={"follow": "false", "after": str(start), "ticket": ticket.json()["ticket"]},
    ) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        data = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert [(e["incident_id"], e["action"]) for e in data] == [(made["id"], "report")]
    assert stream_client.anonymous.get("/api/incidents/events", params={"follow": "false"}).status_code == 401
    assert (
        stream_client.get("/api/incidents/events", params={"follow": "false"}, headers=as_role("planner")).status_code
        == 403
    )
