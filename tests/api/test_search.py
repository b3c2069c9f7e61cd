"""Place search for residents (/api/search): buildings, compounds and facilities by name, public fields only."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import GridmapClient

PUBLIC_PROPERTIES = {"kind", "name", "category", "community"}


def test_finds_a_facility_by_part_of_its_name(demo_client: GridmapClient, demo_session: Session) -> None:
    name, category = demo_session.execute(
        text("SELECT name, category FROM facilities WHERE name IS NOT NULL ORDER BY code LIMIT 1")
    ).one()
    part = name[1:-1] if len(name) > 3 else name
    found = demo_client.anonymous.get("/api/search", params={"q": part})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["type"] == "FeatureCollection"
    hit = next(f for f in body["features"] if f["properties"]["name"] == name)
    assert hit["properties"]["kind"] == "facility" and hit["properties"]["category"] == category
    assert hit["geometry"]["type"] == "Point" and len(hit["geometry"]["coordinates"]) == 2


def test_finds_compounds_and_buildings_never_households_or_population(
    demo_client: GridmapClient, demo_session: Session
) -> None:
    compound, address, community = demo_session.execute(
        text("""SELECT b.compound, b.address, c.name FROM buildings b JOIN communities c ON c.id = b.community_id
                WHERE b.compound IS NOT NULL AND b.address IS NOT NULL ORDER BY b.id LIMIT 1""")
    ).one()
    compounds = demo_client.anonymous.get("/api/search", params={"q": compound, "limit": 50}).json()["features"]
    first = compounds[0]["properties"]
    assert first == {"kind": "compound", "name": compound, "category": None, "community": community}
    buildings = demo_client.anonymous.get("/api/search", params={"q": address}).json()["features"]
    assert buildings[0]["properties"]["kind"] == "building" and buildings[0]["properties"]["name"] == address
    for feature in compounds + buildings:
        assert set(feature["properties"]) == PUBLIC_PROPERTIES
        assert set(feature) == {"type", "geometry", "properties"}


def test_limit_and_wildcards(demo_client: GridmapClient) -> None:
    many = demo_client.anonymous.get("/api/search", params={"q": "号", "limit": 3}).json()["features"]
    assert len(many) == 3
    # % and _ are searched for as characters, not patterns matching everything.
    for query in ("%", "_", "\\"):
        assert demo_client.anonymous.get("/api/search", params={"q": query}).json()["features"] == []


def test_an_empty_query_is_422_naming_q(demo_client: GridmapClient) -> None:
    for params in ({"q": ""}, {"q": "   "}, {}):
        answer = demo_client.anonymous.get("/api/search", params=params)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "q" in answer.json()["detail"]
    assert demo_client.anonymous.get("/api/search", params={"q": "a", "limit": 0}).status_code == 422
