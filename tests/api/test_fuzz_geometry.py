"""Fuzzing the ways geometries come in: imports, plan edits (split, redraw) and incident locations.

Hypothesis makes bad geometries — unclosed rings, bow-ties, NaN/infinite/huge coordinates, empty and
wrongly nested coordinates, swapped longitude/latitude, wrong types — next to usable ones. Every answer
must be a clear 4xx problem (or, for imports, a refused file or rejected rows) or a repaired/accepted
result; never a 500; and whatever is refused writes nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pytest
import shapely
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import GridmapError
from gis.exchange.load import import_file, import_frame
from gis.settings import Settings
from tests import samples

PROBLEM = "application/problem+json"
CENTRE = (121.55, 29.87)  # the demo district and tests/samples.py both sit here
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- strategies -------------------------------------------------------------------------------------

NASTY_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 1e20, 181.0, -91.0, 0.0])
NOT_NUMBERS = st.sampled_from(["121.55", "", None, True, [], {}, [121.55, 29.87]])


Centre = tuple[float, float]


@st.composite
def points(draw: st.DrawFn, centre: Centre = CENTRE, span: float = 0.005) -> list[Any]:
    """A coordinate pair: mostly usable near `centre`, sometimes swapped, non-finite, huge or malformed."""
    x = centre[0] + draw(st.floats(-span, span))
    y = centre[1] + draw(st.floats(-span, span))
    kind = draw(st.sampled_from(["good"] * 6 + ["swapped", "nasty", "not a number", "short", "long"]))
    if kind == "swapped":
        return [y, x]
    if kind == "nasty":
        return [draw(NASTY_NUMBERS), y] if draw(st.booleans()) else [x, draw(NASTY_NUMBERS)]
    if kind == "not a number":
        return [draw(NOT_NUMBERS), y]
    if kind == "short":
        return [x]
    if kind == "long":
        return [x, y, 0.0, 1.0]
    return [x, y]


@st.composite
def rings(draw: st.DrawFn, centre: Centre = CENTRE) -> list[Any]:
    """A polygon ring: a box or bow-tie about `centre`, or random points; closed or not."""
    d = draw(st.sampled_from([0.001, 0.003, 0.0003, 0.02, 0.0, 1e-9]))
    x, y = centre[0] - d / 2 + draw(st.floats(-d / 4, d / 4)), centre[1] - d / 2 + draw(st.floats(-d / 4, d / 4))
    shape = draw(st.sampled_from(["box", "box", "bow-tie", "random"]))
    if shape == "box":
        ring: list[Any] = [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]
    elif shape == "bow-tie":  # self-crossing: repairable into two triangles
        ring = [[x, y], [x + d, y + d], [x + d, y], [x, y + d], [x, y]]
    else:
        ring = draw(st.lists(points(centre), min_size=0, max_size=8))
        if ring and draw(st.booleans()):
            ring = [*ring, ring[0]]
    if ring and draw(st.integers(0, 4)) == 0:
        ring = ring[:-1]  # unclosed
    if ring and draw(st.integers(0, 6)) == 0:
        ring[draw(st.integers(0, len(ring) - 1))] = draw(points(centre))  # one odd vertex
    return ring


@st.composite
def polygon_coordinates(draw: st.DrawFn, centre: Centre = CENTRE) -> Any:
    nesting = draw(st.sampled_from(["shell"] * 4 + ["hole", "hole outside", "too shallow", "too deep", "empty"]))
    shell = draw(rings(centre))
    if nesting == "hole":
        return [shell, draw(rings(centre))]
    if nesting == "hole outside":  # a "hole" 0.05° east of its shell
        far = [[v[0] + 0.05, *v[1:]] if v and isinstance(v[0], float) else v for v in shell]
        return [shell, far]
    if nesting == "too shallow":
        return shell
    if nesting == "too deep":
        return [[shell]]
    return [] if draw(st.booleans()) else [[]]


@st.composite
def line_coordinates(draw: st.DrawFn, centre: Centre = CENTRE) -> Any:
    nesting = draw(st.sampled_from(["line"] * 3 + ["across"] * 3 + ["one point", "repeated", "too deep", "empty"]))
    if nesting == "across":  # a line through `centre`, maybe long enough to cut its grid in two
        half = draw(st.sampled_from([0.0005, 0.003, 0.03]))
        tilt = draw(st.floats(-1, 1))
        return [[centre[0] - half, centre[1] - half * tilt], [centre[0] + half, centre[1] + half * tilt]]
    if nesting == "one point":
        return [draw(points(centre))]
    if nesting == "repeated":
        p = draw(points(centre))
        return [p, p, p]
    if nesting == "too deep":
        return [draw(st.lists(points(centre), min_size=2, max_size=4))]
    if nesting == "empty":
        return []
    return draw(st.lists(points(centre), min_size=2, max_size=8))


WRONG_TYPES = st.sampled_from(["Point", "MultiPolygon", "MultiLineString", "Feature", "polygon", "", 5, None])


@st.composite
def geojson(draw: st.DrawFn, expected: str, centre: Centre = CENTRE) -> Any:
    """A GeoJSON-ish value for a slot that expects `expected`: right or wrong type, good or bad coordinates."""
    kind = draw(st.sampled_from(["right"] * 6 + ["wrong type", "no type", "not an object", "no coordinates"]))
    coordinates = draw(polygon_coordinates(centre) if expected == "Polygon" else line_coordinates(centre))
    if kind == "wrong type":
        return {"type": draw(WRONG_TYPES), "coordinates": coordinates}
    if kind == "no type":
        return {"coordinates": coordinates}
    if kind == "not an object":
        return draw(st.sampled_from([coordinates, "POLYGON((0 0,1 0,1 1,0 0))", 7, None, [], {}]))
    if kind == "no coordinates":
        return {"type": expected}
    return {"type": expected, "coordinates": coordinates}


def as_json(value: Any) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity included (Python's json accepts them)."""
    return json.dumps(value, allow_nan=True).encode()


# -- checks -----------------------------------------------------------------------------------------


def assert_clear_refusal(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    body = response.json()
    assert body["status"] == response.status_code and body["detail"] and "Traceback" not in response.text


def plan_state(session: Session, plan_id: int) -> tuple[Any, ...]:
    return session.execute(
        text("""SELECT p.version,
                       (SELECT count(*) FROM plan_operations o WHERE o.plan_id = p.id),
                       (SELECT md5(string_agg(a.unit_id || ':' || a.grid_id, ',' ORDER BY a.unit_id))
                          FROM assignments a WHERE a.plan_id = p.id)
                FROM grid_plans p WHERE p.id = :p"""),
        {"p": plan_id},
    ).one()


def count(session: Session, table: str) -> int:
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


# -- plan edits -------------------------------------------------------------------------------------


Grid = tuple[int, tuple[float, float], tuple[float, float]]  # id, a point inside it, a corner of it


@pytest.fixture
def plan(demo_session: Session, demo_client: TestClient) -> tuple[int, list[Grid]]:
    """A draft of the demo plan (shared by a test's examples) and its grids."""
    response = demo_client.post("/api/plans", json={"base": "current", "name": "fuzz"})
    assert response.status_code == 201, response.text
    plan_id = response.json()["id"]
    grids = demo_session.execute(
        text("""SELECT id, ST_X(inside), ST_Y(inside), ST_X(corner), ST_Y(corner)
                FROM (SELECT id, ST_PointOnSurface(geom) inside,
                             ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1) corner
                      FROM grids WHERE plan_id = :p) g ORDER BY id"""),
        {"p": plan_id},
    ).all()
    return plan_id, [(g[0], (g[1], g[2]), (g[3], g[4])) for g in grids]


NO_SUCH_GRIDS = st.sampled_from([0, -1, 2**31, 2**70])


def _edit(
    session: Session, client: TestClient, plan: tuple[int, list[Grid]], data: st.DataObject, edit: str, expected: str
) -> None:
    """Draw a geometry about one of the draft's grids (or for a grid that does not exist) and send the edit."""
    plan_id, grids = plan
    target, inside, corner = data.draw(st.sampled_from(grids))
    grid = data.draw(
        st.one_of(st.just(target), NO_SUCH_GRIDS) if data.draw(st.integers(0, 9)) == 0 else st.just(target)
    )
    field = "line" if edit == "split" else "polygon"
    # Lines through the middle may cut the grid; polygons about a corner may take in a neighbour's units.
    body = {"grid": grid, field: data.draw(geojson(expected, inside if edit == "split" else corner))}
    before = plan_state(session, plan_id)
    response = client.post(
        f"/api/plans/{plan_id}/{edit}",
        content=as_json(body),
        headers={"Content-Type": "application/json", "If-Match": f'"{before[0]}"'},
    )
    event(f"{edit} {response.status_code}")  # pytest --hypothesis-show-statistics shows the mix
    if response.status_code == 200:
        assert response.json()["plan"]["version"] == before[0] + 1
        return
    assert_clear_refusal(response)
    assert plan_state(session, plan_id) == before


@FUZZ
@given(data=st.data())
def test_split_lines_never_fail_the_server(
    demo_session: Session, demo_client: TestClient, plan: tuple[int, list[Grid]], data: st.DataObject
) -> None:
    _edit(demo_session, demo_client, plan, data, "split", "LineString")


@FUZZ
@given(data=st.data())
def test_redraw_polygons_never_fail_the_server(
    demo_session: Session, demo_client: TestClient, plan: tuple[int, list[Grid]], data: st.DataObject
) -> None:
    _edit(demo_session, demo_client, plan, data, "redraw", "Polygon")


# -- incident locations -----------------------------------------------------------------------------

CRS_NAMES = st.sampled_from(["wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:4326", "EPSG:4549", "EPSG:0", "nonsense", ""])


@st.composite
def locations(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["point"] * 6 + ["not an object", "missing lat", "extra"]))
    lon, lat = [*draw(points()), None, None][:2]
    if kind == "not an object":
        return draw(st.sampled_from([[lon, lat], "121.55,29.87", 0, None]))
    if kind == "missing lat":
        return {"lon": lon}
    location = {"lon": lon, "lat": lat, "crs": draw(CRS_NAMES)}
    if kind == "extra":
        location["geometry"] = {"type": "Point", "coordinates": [lon, lat]}
    return location


@FUZZ
@given(location=locations())
def test_incident_locations_never_fail_the_server(
    demo_session: Session, demo_client: TestClient, location: Any
) -> None:
    before = count(demo_session, "incidents")
    response = demo_client.post(
        "/api/incidents",
        content=as_json({"category": "sanitation", "description": "fuzz", "location": location}),
        headers={"Content-Type": "application/json"},
    )
    event(f"report {response.status_code}")
    if response.status_code == 201:
        assert count(demo_session, "incidents") == before + 1
        body = response.json()
        assert math.isfinite(body["lon"]) and math.isfinite(body["lat"])
        return
    assert_clear_refusal(response)
    assert count(demo_session, "incidents") == before


@pytest.fixture
def incident(demo_session: Session, demo_client: TestClient) -> int:
    lon, lat = demo_session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings LIMIT 1) b")
    ).one()
    created = demo_client.post("/api/incidents", json={"category": "sanitation", "location": {"lon": lon, "lat": lat}})
    assert created.status_code == 201, created.text
    return created.json()["id"]


@FUZZ
@given(location=locations())
def test_incident_relocations_never_fail_the_server(
    demo_session: Session, demo_client: TestClient, incident: int, location: Any
) -> None:
    def snapshot() -> tuple[Any, ...]:
        return demo_session.execute(
            text("""SELECT ST_AsBinary(location), grid_id,
                           (SELECT count(*) FROM incident_events e WHERE e.incident_id = i.id)
                    FROM incidents i WHERE id = :i"""),
            {"i": incident},
        ).one()

    before = snapshot()
    response = demo_client.post(
        f"/api/incidents/{incident}/location",
        content=as_json({"location": location, "note": "fuzz"}),
        headers={"Content-Type": "application/json"},
    )
    event(f"relocate {response.status_code}")
    if response.status_code == 200:
        return
    assert_clear_refusal(response)
    assert snapshot() == before


# -- imports ----------------------------------------------------------------------------------------


@st.composite
def features(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"name": "楼", "households": draw(st.sampled_from([10, -1, "many", None]))},
        "geometry": draw(st.one_of(geojson("Polygon"), st.none())),
    }


def _imported_rows(session: Session) -> int:
    return count(session, "buildings")


@FUZZ
@given(rows=st.lists(features(), min_size=1, max_size=5))
def test_imported_geojson_files_are_refused_or_reported(
    session: Session, tmp_path_factory: Any, rows: list[dict[str, Any]], settings: Settings
) -> None:
    """A file of bad buildings is refused whole (FileRejected) or imported with its bad rows reported."""
    path = Path(tmp_path_factory.mktemp("fuzz")) / "buildings.geojson"
    path.write_bytes(as_json({"type": "FeatureCollection", "features": rows}))
    savepoint = session.begin_nested()
    try:
        import_frame(session, "communities", samples.communities(), settings=settings)
        before = _imported_rows(session)
        try:
            report = import_file(session, "buildings", path, crs="EPSG:4326", settings=settings)
        except GridmapError as exc:
            assert 400 <= exc.status < 500 and exc.detail
            assert _imported_rows(session) == before
            return
        assert report.imported + len({p.row for p in report.rejected}) == report.read
        assert _imported_rows(session) == before + report.imported
        stored = session.execute(text("SELECT bool_and(ST_IsValid(footprint)) FROM buildings")).scalar()
        assert stored in (True, None)
    finally:
        savepoint.rollback()


@FUZZ
@given(rings=st.lists(rings(), min_size=1, max_size=5))
def test_imported_frames_with_bad_polygons_are_repaired_or_rejected(
    session: Session, rings: list[list[Any]], settings: Settings
) -> None:
    """The same through import_frame, with whatever shapely can build from the rings (invalid ones too)."""
    geometries = []
    for ring in rings:
        try:
            geometries.append(shapely.Polygon(ring))
        except (ValueError, TypeError, shapely.errors.ShapelyError):
            geometries.append(None)
    frame = gpd.GeoDataFrame({"name": ["楼"] * len(geometries)}, geometry=geometries, crs=4326)
    savepoint = session.begin_nested()
    try:
        before = _imported_rows(session)
        try:
            report = import_frame(session, "buildings", frame, settings=settings)
        except GridmapError as exc:
            assert 400 <= exc.status < 500 and exc.detail
            assert _imported_rows(session) == before
            return
        assert report.imported + len({p.row for p in report.rejected}) == report.read
        assert _imported_rows(session) == before + report.imported
    finally:
        savepoint.rollback()
