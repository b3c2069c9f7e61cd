"""Tracking numbers: a resident's report gets a short number, and its status page shows no personal data."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.incidents.tracking import TRACKING_ALPHABET, normalise
from tests.api.test_incidents import somewhere
from tests.conftest import GridmapClient

CONTACT = "13912345678-resident-contact"
DESCRIPTION = "楼道堆物挡住消防通道，住户王小明 ref-7731"
NOTE = "已电话联系王小明，明早清理"
NUMBER = re.compile(f"^[{TRACKING_ALPHABET}]{{8}}$")


def _report(client: GridmapClient, session: Session, n: int = 0, key: str | None = None) -> dict:
    lon, lat, _ = somewhere(session, n)
    response = client.anonymous.post(
        "/api/incidents",
        json={
            "category": "safety_hazard",
            "description": DESCRIPTION,
            "reporter_contact": CONTACT,
            "location": {"lon": lon, "lat": lat},
            "channel": "web",
        },
        headers={"Idempotency-Key": key} if key else {},
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_a_residents_report_gets_a_number_and_its_page_shows_status_without_contact_or_description(
    demo_client: GridmapClient, demo_session: Session
) -> None:
    reported = _report(demo_client, demo_session)
    number = reported["tracking_number"]
    assert NUMBER.match(number), number
    assert not set(number) & set("0O1I")

    dispatcher = demo_client.as_role("dispatcher")
    moved = demo_client.post(
        f"/api/incidents/{reported['id']}/transitions", json={"action": "register", "note": NOTE}, headers=dispatcher
    )
    assert moved.status_code == 200, moved.text

    for url in (f"/api/track/{number}", f"/report/{number}", f"/report/{number}?lang=en"):
        answer = demo_client.anonymous.get(url)
        assert answer.status_code == 200, (url, answer.text)
        assert "no-store" in answer.headers["cache-control"]
        for secret in (CONTACT, DESCRIPTION, "王小明", NOTE, "test-dispatcher", f"{reported['lon']:.5f}"):
            assert secret not in answer.text, (url, secret)
    tracked = demo_client.anonymous.get(f"/api/track/{number.lower()[:4]}-{number.lower()[4:]}").json()
    assert tracked["tracking_number"] == number and tracked["status"] == "registered"
    assert tracked["category"] == "safety_hazard" and tracked["community_name"]
    assert [step["action"] for step in tracked["history"]] == ["report", "register"]
    assert [step["to_status"] for step in tracked["history"]] == ["reported", "registered"]
    assert not {"id", "description", "reporter_contact", "photo_url", "address", "lon", "lat"} & set(tracked)
    assert all(set(step) == {"at", "actor", "action", "from_status", "to_status"} for step in tracked["history"])
    page = demo_client.anonymous.get(f"/report/{number}").text
    assert "已立案" in page and number in page


def test_numbers_are_unique_and_a_replay_answers_the_same_number(
    demo_client: GridmapClient, demo_session: Session
) -> None:
    first = _report(demo_client, demo_session, 0, key="tap-1")
    again = _report(demo_client, demo_session, 0, key="tap-1")  # a double tap: the same report, the same number
    other = _report(demo_client, demo_session, 1)
    assert again["id"] == first["id"] and again["tracking_number"] == first["tracking_number"]
    assert other["tracking_number"] != first["tracking_number"]
    duplicates = demo_session.execute(
        text("SELECT count(*) - count(DISTINCT tracking_number) FROM incidents")
    ).scalar_one()
    assert duplicates == 0


def test_every_insert_gets_a_number_from_the_database(session: Session) -> None:
    numbers = (
        session.execute(
            text("""INSERT INTO incidents (category, location)
                SELECT 'sanitation', ST_SetSRID(ST_MakePoint(121.5, 29.8), 4326) FROM generate_series(1, 500)
                RETURNING tracking_number""")
        )
        .scalars()
        .all()
    )
    assert len(set(numbers)) == 500 and all(NUMBER.match(n) for n in numbers)


def test_unknown_or_malformed_numbers_are_404(demo_client: GridmapClient) -> None:
    for number in ("ZZZZZZZZ", "0OI1ABCD", "short", "x" * 300):
        answer = demo_client.anonymous.get(f"/api/track/{number}")
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["where"] == "tracking_number"
        page = demo_client.anonymous.get(f"/report/{number}")
        assert page.status_code == 404 and "text/html" in page.headers["content-type"]


def test_normalise_accepts_what_people_type() -> None:
    assert normalise(" ab2c-d3ef ") == "AB2CD3EF"
    assert normalise("AB2CD3E") is None and normalise("AB2CD3E0") is None
