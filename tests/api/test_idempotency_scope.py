"""An Idempotency-Key belongs to its client, and a reused key must come with the same report.

Scope: the token's account for staff, the client's address for the public (gis.incidents.records.report). A key
reused by the same client for another report is a 409 naming `Idempotency-Key`, never a replay of the first
incident. Concurrent races of such requests: tests/api/test_idempotency.py.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_incidents import somewhere
from tests.conftest import GridmapClient


def report_body(session: Session, description: str = "井盖缺失") -> dict[str, Any]:
    lon, lat, _ = somewhere(session, 4)
    return {"category": "facility_damage", "description": description, "location": {"lon": lon, "lat": lat}}


def from_address(client: GridmapClient, address: str) -> TestClient:
    """The public on `address` (the same app, its lifespan already running)."""
    return TestClient(client.app, client=(address, 50000), raise_server_exceptions=False)


def incident_count(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM incidents")).scalar_one()


def test_one_key_from_two_staff_accounts_makes_two_incidents(demo_session: Session, demo_client: GridmapClient) -> None:
    body, key = report_body(demo_session), {"Idempotency-Key": "shared-key-1"}
    mine = demo_client.post("/api/incidents", json=body, headers=demo_client.as_role("dispatcher") | key)
    theirs = demo_client.post("/api/incidents", json=body, headers=demo_client.as_role("dispatcher", "d2") | key)
    assert mine.status_code == theirs.status_code == 201, (mine.text, theirs.text)
    assert mine.json()["id"] != theirs.json()["id"]
    again = demo_client.post("/api/incidents", json=body, headers=demo_client.as_role("dispatcher") | key)
    assert again.status_code == 200 and again.json()["id"] == mine.json()["id"]


def test_anonymous_keys_are_scoped_by_address_and_apart_from_staff(
    demo_session: Session, demo_client: GridmapClient
) -> None:
    """Someone who learns (or guesses) another reporter's key gets no incident of theirs, only a new one."""
    body, key = report_body(demo_session), {"Idempotency-Key": "guessable-1"}
    first = from_address(demo_client, "198.51.100.7").post("/api/incidents", json=body, headers=key)
    retry = from_address(demo_client, "198.51.100.7").post("/api/incidents", json=body, headers=key)
    elsewhere = from_address(demo_client, "203.0.113.9").post("/api/incidents", json=body, headers=key)
    staff = demo_client.post("/api/incidents", json=body, headers=key)
    assert first.status_code == 201 and retry.status_code == 200, (first.text, retry.text)
    assert retry.json()["id"] == first.json()["id"] and retry.headers["Idempotent-Replayed"] == "true"
    assert elsewhere.status_code == staff.status_code == 201
    assert len({first.json()["id"], elsewhere.json()["id"], staff.json()["id"]}) == 3


def test_the_same_key_with_another_report_is_a_409_that_stores_nothing(
    demo_session: Session, demo_client: GridmapClient
) -> None:
    key = {"Idempotency-Key": "one-key-two-reports"}
    first = demo_client.post("/api/incidents", json=report_body(demo_session), headers=key)
    assert first.status_code == 201, first.text
    before = incident_count(demo_session)
    for changed in (
        report_body(demo_session, description="路灯不亮"),
        report_body(demo_session) | {"category": "sanitation"},
        report_body(demo_session) | {"reporter_contact": "13800000001"},
        report_body(demo_session) | {"location": {"lon": 0.0, "lat": 0.0}},
    ):
        refused = demo_client.post("/api/incidents", json=changed, headers=key)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["where"] == "Idempotency-Key" and "different report" in problem["detail"]
        assert str(first.json()["id"]) not in refused.text  # the first incident is not given away
    assert incident_count(demo_session) == before
    again = demo_client.post("/api/incidents", json=report_body(demo_session), headers=key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_the_same_report_spelt_differently_is_a_replay(demo_session: Session, demo_client: GridmapClient) -> None:
    """The report is compared as read, not byte for byte: key order, spacing and 1 vs 1.0 do not matter."""
    body = report_body(demo_session)
    headers = {"Idempotency-Key": "spelling-1", "Content-Type": "application/json"}
    first = demo_client.post("/api/incidents", content=json.dumps(body), headers=headers)
    respelt = json.dumps(dict(reversed(body.items())), indent=4, ensure_ascii=True)
    again = demo_client.post("/api/incidents", content=respelt, headers=headers)
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]


def test_keys_are_stored_without_the_key_or_the_address(demo_session: Session, demo_client: GridmapClient) -> None:
    response = from_address(demo_client, "192.0.2.55").post(
        "/api/incidents", json=report_body(demo_session), headers={"Idempotency-Key": "plain-key-xyz"}
    )
    assert response.status_code == 201, response.text
    stored, digest = demo_session.execute(
        text("SELECT idempotency_key, idempotency_request FROM incidents WHERE id = :id"), {"id": response.json()["id"]}
    ).one()
    assert len(stored) == len(digest) == 64 and "plain-key-xyz" not in stored and "192.0.2.55" not in stored
