"""The public notice (/notice, /api/notice): closed incidents per community with days to close and monthly
counts, never a description, contact, address or coordinate."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_incidents import somewhere
from tests.conftest import GridmapClient

CONTACT = "13700001111-notice"
DESCRIPTION = "公示测试：三楼李四家漏水"
ADDRESS = "望堂街2号17幢301室"
LOOP = ("register", "dispatch", "start", "resolve", "verify", "close")


def _closed_incident(client: GridmapClient, session: Session) -> dict:
    lon, lat, _ = somewhere(session, 3)
    reported = client.anonymous.post(
        "/api/incidents",
        json={
            "category": "facility_damage",
            "description": DESCRIPTION,
            "reporter_contact": CONTACT,
            "address": ADDRESS,
            "location": {"lon": lon, "lat": lat},
        },
    ).json()
    for action in LOOP:
        moved = client.post(f"/api/incidents/{reported['id']}/transitions", json={"action": action, "note": "ok"})
        assert moved.status_code == 200, moved.text
    # Reported two days and a half before it closed.
    session.execute(
        text("UPDATE incidents SET reported_at = closed_at - interval '60 hours' WHERE id = :id"),
        {"id": reported["id"]},
    )
    return reported


def test_notice_lists_closed_incidents_per_community_without_personal_data(
    demo_client: GridmapClient, demo_session: Session
) -> None:
    reported = _closed_incident(demo_client, demo_session)
    answer = demo_client.anonymous.get("/api/notice")
    assert answer.status_code == 200, answer.text
    notice = answer.json()
    entry = next(c for c in notice["communities"] if c["community_name"] == reported["community_name"])
    closed = entry["closed"][0]
    assert closed["category"] == "facility_damage" and closed["days_to_close"] == 2.5
    assert closed["category_name_zh"] == "公共设施损坏"
    month = next(m for m in notice["monthly"] if m["community_name"] == reported["community_name"])
    assert month["reported"] >= 1 and month["closed"] >= 1 and re.fullmatch(r"\d{4}-\d{2}", month["month"])

    for url in ("/api/notice", "/notice", "/notice?lang=en"):
        body = demo_client.anonymous.get(url)
        assert body.status_code == 200, url
        for secret in (CONTACT, DESCRIPTION, "李四", ADDRESS, reported["tracking_number"], str(reported["lon"])[:8]):
            assert secret not in body.text, (url, secret)
        # No coordinates at all: nothing that looks like a longitude or latitude of the district.
        assert not re.search(r"1[0-9]{2}\.[0-9]{3,}|[0-9]{2}\.[0-9]{4,}", body.text), url
    page = demo_client.anonymous.get("/notice").text
    assert reported["community_name"] in page and "公共设施损坏" in page and "2.5" in page


def test_open_incidents_are_not_listed_as_closed(demo_client: GridmapClient, demo_session: Session) -> None:
    lon, lat, _ = somewhere(demo_session, 4)
    demo_client.anonymous.post(
        "/api/incidents", json={"category": "dispute", "location": {"lon": lon, "lat": lat}}
    ).raise_for_status()
    notice = demo_client.anonymous.get("/api/notice").json()
    assert all(c["category"] != "dispute" for entry in notice["communities"] for c in entry["closed"])
    assert any(m["category"] == "dispute" and m["reported"] >= 1 for m in notice["monthly"])
