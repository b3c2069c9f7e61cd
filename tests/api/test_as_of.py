"""Answers as of an instant (?as_of= on the read API and OGC items) and the version history of a feature, against
real PostGIS: changes are made with plain SQL inside the test, and the history triggers (migration 0008) version
them at clock_timestamp(), so instants read between two statements fall between two versions."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.basedata.batches import batch
from gis.exchange.load import import_frame
from gis.settings import Settings
from tests import samples


@pytest.fixture
def town(session: Session, settings: Settings) -> Session:
    samples.load_town(session, settings)
    return session


def instant(session: Session) -> str:
    """The database clock now, as ISO 8601 with its offset: strictly between the statements around it."""
    return session.execute(text("SELECT clock_timestamp()")).scalar_one().isoformat()


def first_building(session: Session) -> tuple[int, int, str]:
    row = session.execute(text("SELECT id, households, name FROM buildings ORDER BY id LIMIT 1")).one()
    return row.id, row.households, row.name


def props(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["properties"]


def test_a_changed_building_answers_as_it_was_then(client: TestClient, town: Session) -> None:
    building, households, name = first_building(town)
    before = instant(town)
    town.execute(
        text("UPDATE buildings SET households = households + 7, name = '改建楼' WHERE id = :id"), {"id": building}
    )
    after = instant(town)

    then = props(client.get(f"/api/buildings/{building}", params={"as_of": before}))
    now = props(client.get(f"/api/buildings/{building}", params={"as_of": after}))
    assert (then["households"], then["name"]) == (households, name)
    assert (now["households"], now["name"]) == (households + 7, "改建楼")
    assert props(client.get(f"/api/buildings/{building}")) == now
    # The derived parent code is served as of then too (read from the current parent).
    assert then["community_code"] == now["community_code"] is not None

    page = client.get("/api/buildings", params={"as_of": before, "limit": 100}).json()
    assert page["numberMatched"] == 12
    assert next(f for f in page["features"] if f["id"] == building)["properties"]["households"] == households

    # OGC API: the item, and the items filtered on a value only the old version had.
    item = client.get(f"/ogc/collections/buildings/items/{building}", params={"as_of": before})
    assert props(item)["households"] == households
    assert any("as_of=" in link["href"] for link in item.json()["links"] if link["rel"] == "self")
    old_name = {"name": name, "as_of": before}
    assert [f["id"] for f in client.get("/ogc/collections/buildings/items", params=old_name).json()["features"]] == [
        building
    ]
    assert client.get("/ogc/collections/buildings/items", params=old_name | {"as_of": after}).json()["features"] == []


def test_a_retired_building_is_there_before_its_retirement_only(client: TestClient, town: Session) -> None:
    building, households, _ = first_building(town)
    before = instant(town)
    town.execute(text("DELETE FROM buildings WHERE id = :id"), {"id": building})
    after = instant(town)

    assert props(client.get(f"/api/buildings/{building}", params={"as_of": before}))["households"] == households
    gone = client.get(f"/api/buildings/{building}", params={"as_of": after})
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
    assert client.get(f"/api/buildings/{building}").status_code == 404
    assert client.get("/api/buildings", params={"as_of": before}).json()["numberMatched"] == 12
    assert client.get("/api/buildings", params={"as_of": after}).json()["numberMatched"] == 11
    assert client.get(f"/ogc/collections/buildings/items/{building}", params={"as_of": before}).status_code == 200
    assert client.get(f"/ogc/collections/buildings/items/{building}", params={"as_of": after}).status_code == 404
    assert client.get("/ogc/collections/buildings/items", params={"as_of": after}).json()["numberMatched"] == 11

    history = client.get(f"/api/buildings/{building}/history").json()
    assert history["retired"] is True and history["versions"][-1]["valid_to"] is not None


def test_history_lists_every_version_with_its_batch(client: TestClient, town: Session) -> None:
    building, households, _ = first_building(town)
    town.execute(text("UPDATE buildings SET households = 40 WHERE id = :id"), {"id": building})
    with batch(town, kind="edit", layer="buildings", actor="test-editor", source="by hand") as made:
        town.execute(text("UPDATE buildings SET households = 41 WHERE id = :id"), {"id": building})

    staff = client.get(f"/api/buildings/{building}/history")
    assert staff.status_code == 200, staff.text
    body = staff.json()
    assert body["id"] == building and body["retired"] is False
    versions = body["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["change"] for v in versions] == ["insert", "update", "update"]
    assert [v["properties"]["households"] for v in versions] == [households, 40, 41]
    assert [v["valid_to"] for v in versions[:-1]] == [v["valid_from"] for v in versions[1:]]
    assert versions[-1]["valid_to"] is None and "geometry" not in versions[0]
    assert versions[1]["batch"] is None  # a change made outside any batch
    assert versions[2]["batch"] == {
        "id": made.id,
        "kind": "edit",
        "source": "by hand",
        "at": made.at.isoformat(),
        "actor": "test-editor",
    }
    assert versions[1]["closed_by"]["id"] == made.id and versions[2]["visit_id"] is None
    assert client.get("/api/buildings/987654321/history").status_code == 404

    # The public sees when and what kind of change, not who made it.
    public = client.anonymous.get(f"/api/buildings/{building}/history", params={"geometry": "true"}).json()
    assert "actor" not in public["versions"][2]["batch"] and public["versions"][2]["batch"]["kind"] == "edit"
    assert public["versions"][0]["geometry"]["type"] == "MultiPolygon"


def test_facilities_have_a_history_too(client: TestClient, town: Session, settings: Settings) -> None:
    import_frame(town, "facilities", samples.facilities(), settings=settings)
    facility, capacity = town.execute(text("SELECT id, capacity FROM facilities ORDER BY id LIMIT 1")).one()
    town.execute(text("UPDATE facilities SET capacity = 120 WHERE id = :id"), {"id": facility})
    town.execute(text("DELETE FROM facilities WHERE id = :id"), {"id": facility})
    body = client.get(f"/api/facilities/{facility}/history").json()
    assert [v["properties"]["capacity"] for v in body["versions"]] == [capacity, 120]
    assert body["retired"] is True and body["versions"][0]["properties"]["category"] == "kindergarten"


def test_grids_as_of_come_from_the_plan_published_then(client: TestClient, town: Session, settings: Settings) -> None:
    first = town.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one()
    second = import_frame(town, "grids", samples.grids().iloc[:2], source="newer", settings=settings).plan_id
    # Both were published in this one transaction (now() is its start): give them distinct periods.
    town.execute(
        text("""UPDATE grid_plans SET effective_from = CASE id WHEN :a THEN TIMESTAMPTZ '2020-01-01 00:00+08'
                                                           ELSE TIMESTAMPTZ '2021-01-01 00:00+08' END,
                                      effective_to = CASE id WHEN :a THEN TIMESTAMPTZ '2021-01-01 00:00+08' END
                WHERE id IN (:a, :b)"""),
        {"a": first, "b": second},
    )

    def plans(path: str, **params: Any) -> tuple[int, set[int]]:
        body = client.get(path, params=params).json()
        return body["numberMatched"], {f["properties"]["plan_id"] for f in body["features"]}

    assert plans("/api/grids", as_of="2020-06-01") == (4, {first})
    assert plans("/api/grids", as_of="2022-06-01") == (2, {second})
    assert plans("/api/grids", as_of="2019-06-01") == (0, set())  # nothing was published yet
    assert plans("/api/grids", as_of="2022-06-01", plan=first) == (4, {first})  # ?plan wins
    assert plans("/api/grids") == (2, {second})
    assert plans("/ogc/collections/grids/items", as_of="2020-06-01T12:00:00+08:00") == (4, {first})


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-02-30", "20240101", "2024-01-01T25:00", ""])
def test_a_malformed_as_of_is_a_problem_naming_it(client: TestClient, value: str) -> None:
    for path in ("/api/buildings", "/api/buildings/1", "/ogc/collections/buildings/items", "/api/grids"):
        response = client.get(path, params={"as_of": value})
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["where"] == "as_of" and "as_of" in response.json()["detail"]


def test_layers_without_history_refuse_as_of(client: TestClient, town: Session) -> None:
    for path in ("/api/network", "/ogc/collections/network/items", "/ogc/collections/incidents/items",
                 "/ogc/collections/catchments/items", "/ogc/collections/network/items/1"):  # fmt: skip
        response = client.get(path, params={"as_of": "2024-01-01"})
        assert response.status_code == 400, (path, response.text)
        assert response.json()["where"] == "as_of" and "history" in response.json()["detail"]


def test_a_future_as_of_answers_as_now(client: TestClient, town: Session) -> None:
    current = client.get("/api/buildings", params={"limit": 100}).json()
    future = client.get("/api/buildings", params={"limit": 100, "as_of": "2999-12-31"}).json()
    assert future["features"] == current["features"] and future["numberMatched"] == 12
    communities = client.get("/api/communities", params={"as_of": "2999-12-31T08:00:00Z"}).json()
    assert communities["numberMatched"] == 2
    # Before anything was imported, nothing existed.
    assert client.get("/api/communities", params={"as_of": "2000-01-01"}).json()["numberMatched"] == 0
