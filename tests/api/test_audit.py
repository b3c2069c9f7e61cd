"""The audit trail: every write leaves one entry with actor, time and a before/after summary; nothing else
does, a refused write leaves none, and the table cannot be changed afterwards."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy.exc
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import audit
from gis.exchange.load import import_frame
from gis.settings import Settings
from tests import samples
from tests.samples import report_incident


def trail(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/audit", params=params)
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def mergeable(grids: list[dict[str, Any]]) -> tuple[int, int]:
    return next(
        (a["id"], b["id"])
        for i, a in enumerate(grids)
        for b in grids[i + 1 :]
        if a["properties"]["community_code"] == b["properties"]["community_code"]  # merges stay in a community
        and shape(a["geometry"]).intersection(shape(b["geometry"])).length > 1e-4
    )


def test_plan_edits_and_publishing_are_audited(demo_client: TestClient) -> None:
    draft = demo_client.post("/api/plans", json={"base": "current", "name": "审计测试"}).json()
    first, second = mergeable(demo_client.get(f"/api/plans/{draft['id']}/grids").json()["features"])
    headers = {"If-Match": f'"{draft["version"]}"'}
    merged = demo_client.post(f"/api/plans/{draft['id']}/merge", json={"grids": [first, second]}, headers=headers)
    assert merged.status_code == 200, merged.text
    stale = demo_client.post(f"/api/plans/{draft['id']}/merge", json={"grids": [first, second]}, headers=headers)
    assert stale.status_code == 412  # refused: leaves no entry

    entries = trail(demo_client, target=f"plan:{draft['id']}")
    assert [e["action"] for e in entries] == ["plan.merge", "plan.create"]  # newest first
    merge = entries[0]
    assert merge["before"] == {"version": draft["version"]} and merge["after"]["version"] == draft["version"] + 1
    assert merge["after"]["grids"] == [first, second] and merge["after"]["result"]
    operation = demo_client.get(f"/api/plans/{draft['id']}/operations").json()[-1]
    assert merge["actor"] == operation["actor"] and merge["actor"]
    assert merge["at"] >= entries[1]["at"]

    undone = demo_client.post(f"/api/plans/{draft['id']}/undo", headers={"If-Match": f'"{draft["version"] + 1}"'})
    assert undone.status_code == 200, undone.text
    assert trail(demo_client, target=f"plan:{draft['id']}", limit=1)[0]["action"] == "plan.undo"
    assert {e["action"] for e in trail(demo_client, action="plan.")} >= {"plan.create", "plan.merge", "plan.undo"}


def test_incident_actions_are_audited_without_personal_data(demo_client: TestClient, demo_session: Session) -> None:
    incident = report_incident(demo_client, demo_session, description="垃圾满溢", contact="13912345678")
    moved = demo_client.post(f"/api/incidents/{incident}/transitions", json={"action": "register"})
    assert moved.status_code == 200, moved.text
    entries = trail(demo_client, target=f"incident:{incident}")
    assert [e["action"] for e in entries] == ["incident.register", "incident.report"]
    assert entries[0]["before"] == {"status": "reported"} and entries[0]["after"]["status"] == "registered"
    raw = demo_client.get("/api/audit", params={"target": f"incident:{incident}"}).text
    assert "13912345678" not in raw


def test_imports_and_facility_changes_are_audited(client: TestClient, session: Session, settings: Settings) -> None:
    report = import_frame(
        session, "communities", samples.communities(), source="社区.gpkg", actor="cli:tester", settings=settings
    )
    (entry,) = audit.entries(session, action="import.communities")["entries"]
    assert entry["actor"] == "cli:tester" and entry["target"] == f"batch:{report.batch_id}"
    assert entry["after"] == {
        "layer": "communities",
        "source": "社区.gpkg",
        "mode": "upsert",
        "inserted": report.inserted,
        "updated": 0,
        "unchanged": 0,
        "retired": 0,
        "rejected": 0,
    }
    assert report.inserted == report.read
    created = client.post(
        "/api/facilities", json={"category": "bank", "name": "审计银行", "lon": 121.551, "lat": 29.871}
    )
    assert created.status_code in (200, 201), created.text
    facility = created.json()["id"]
    assert client.patch(f"/api/facilities/{facility}", json={"name": "改名银行"}).status_code == 200
    assert client.delete(f"/api/facilities/{facility}").status_code in (200, 204)
    actions = [e["action"] for e in trail(client, target=f"facility:{facility}")]
    assert actions == ["facility.delete", "facility.update", "facility.create"]
    update = trail(client, target=f"facility:{facility}")[1]
    assert update["before"] == {"category": "bank"} and update["after"] == {"name": "改名银行"}


def test_the_trail_is_append_only(session: Session) -> None:
    audit.record(session, actor="tester", action="test.write", target="thing:1", after={"password": "secret", "a": 1})
    (entry,) = audit.entries(session, action="test.")["entries"]
    assert entry["after"] == {"a": 1}  # secrets never reach the trail
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        savepoint = session.begin_nested()
        with pytest.raises(sqlalchemy.exc.DBAPIError, match=r"append-only|permission denied"):  # trigger or grant
            session.execute(text(statement))
        savepoint.rollback()
    assert audit.entries(session, action="test.")["entries"][0]["actor"] == "tester"


def test_audit_route_filters_and_pages(client: TestClient, session: Session) -> None:
    for n in range(5):
        audit.record(session, actor=f"user{n % 2}", action="test.page", target=f"thing:{n}")
    page = client.get("/api/audit", params={"action": "test.page", "limit": 2}).json()
    assert page["matched"] == 5 and [e["target"] for e in page["entries"]] == ["thing:4", "thing:3"]
    assert len(trail(client, action="test.page", actor="user0")) == 3
    assert trail(client, action="test.page", offset=4)[0]["target"] == "thing:0"
    bad = client.get("/api/audit", params={"since": "yesterday"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
