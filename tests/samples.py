"""Small hand-made layers around Haishu, Ningbo, for tests that need known answers."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gis.exchange.load import import_frame
from gis.settings import Settings

ORIGIN = (121.55, 29.87)
STEP = 0.0005  # ≈ 48 m east-west, 55 m north-south


def cell(i: int, j: int, size: float = STEP) -> shapely.Polygon:
    x, y = ORIGIN[0] + i * size, ORIGIN[1] + j * size
    return shapely.box(x, y, x + size, y + size)


def communities() -> gpd.GeoDataFrame:
    """Two communities side by side, each 10 × 10 cells."""
    return gpd.GeoDataFrame(
        {"code": ["330203008001", "330203008002"], "name": ["华泰社区", "安丰社区"]},
        geometry=[cell(0, 0, STEP * 10), cell(1, 0, STEP * 10)],
        crs=4326,
    )


def buildings(n: int = 12) -> gpd.GeoDataFrame:
    """`n` small buildings in a row inside the first community, households 10, 20, 30, ..."""
    footprints = [cell(i % 9, i // 9).buffer(-STEP * 0.2, join_style="mitre") for i in range(n)]
    return gpd.GeoDataFrame(
        {
            "name": [f"{i + 1}幢" for i in range(n)],
            "compound": ["华泰小区"] * n,
            "floors": [6] * n,
            "residential": [True] * n,
            "households": [10 * (i + 1) for i in range(n)],
            "population_resident": [26 * (i + 1) for i in range(n)],
        },
        geometry=footprints,
        crs=4326,
    )


def facilities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "category": ["kindergarten", "health_station", "convenience_store"],
            "name": ["华泰幼儿园", "华泰社区卫生服务站", "便利店"],
            "capacity": [180, None, None],
            "public": [True, True, False],
        },
        geometry=[shapely.Point(ORIGIN[0] + 0.001, ORIGIN[1] + 0.001 * k) for k in (1, 2, 3)],
        crs=4326,
    )


def network() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["华泰路", "安丰路", None], "kind": ["secondary", "residential", "footway"]},
        geometry=[
            shapely.LineString([ORIGIN, (ORIGIN[0] + 0.01, ORIGIN[1])]),
            shapely.LineString([ORIGIN, (ORIGIN[0], ORIGIN[1] + 0.005)]),
            shapely.LineString([(ORIGIN[0] + 0.001, ORIGIN[1]), (ORIGIN[0] + 0.001, ORIGIN[1] + 0.001)]),
        ],
        crs=4326,
    )


def grids() -> gpd.GeoDataFrame:
    """Each community split into a west and an east half."""
    polygons, codes = [], []
    for c, community in enumerate(("330203008001", "330203008002")):
        for half in range(2):
            x0 = ORIGIN[0] + STEP * 10 * c + STEP * 5 * half
            polygons.append(shapely.box(x0, ORIGIN[1], x0 + STEP * 5, ORIGIN[1] + STEP * 10))
            codes.append(f"010100{community}{half + 1:02d}")
    return gpd.GeoDataFrame(
        {"code": codes, "name": [f"第{i + 1:02d}网格" for i in range(4)]}, geometry=polygons, crs=4326
    )


def streets() -> gpd.GeoDataFrame:
    """Streets cutting each community into four blocks (one north-south street per half, one east-west)."""
    x0, y0, s = ORIGIN[0], ORIGIN[1], STEP
    lines = [
        shapely.LineString([(x0 + 5 * s, y0), (x0 + 5 * s, y0 + 10 * s)]),
        shapely.LineString([(x0 + 15 * s, y0), (x0 + 15 * s, y0 + 10 * s)]),
        shapely.LineString([(x0, y0 + 5 * s), (x0 + 20 * s, y0 + 5 * s)]),
    ]
    return gpd.GeoDataFrame(
        {"name": ["华泰路", "安丰路", "横街"], "kind": ["residential"] * 3}, geometry=lines, crs=4326
    )


def load_town(session: Session, settings: Settings, n_buildings: int = 12) -> None:
    """The sample communities, streets (as the walking network), buildings and grids — the grids become the
    published plan."""
    import_frame(session, "communities", communities(), settings=settings)
    import_frame(session, "network", streets(), settings=settings)
    import_frame(session, "buildings", buildings(n_buildings), settings=settings)
    import_frame(session, "grids", grids(), settings=settings)
    # The sample town's grids hold a handful of households (some none): its plans' band starts at 0, so drafts of
    # it validate and publish as the tests need.
    session.execute(text("UPDATE grid_plans SET min_households = 0, max_households = 500"))


def buildings_box(connection: Connection | Session, fraction: float = 0.25) -> tuple[float, float, float, float]:
    """A box `fraction` of the buildings' extent wide and high, starting `fraction` in from the south-west."""
    w, s, e, n = connection.execute(
        text(
            "SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) "
            "FROM (SELECT ST_Extent(footprint) x FROM buildings) b"
        )
    ).one()
    dx, dy = (e - w) * fraction, (n - s) * fraction
    return w + dx, s + dy, w + 2 * dx, s + 2 * dy


def report_incident(client: Any, session: Session, *, description: str, contact: str) -> int:
    """Report a sanitation incident with a reporter's contact at the first building; its id."""
    lon, lat = session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings LIMIT 1) b")
    ).one()
    reported = client.post(
        "/api/incidents",
        json={
            "category": "sanitation",
            "description": description,
            "location": {"lon": lon, "lat": lat},
            "reporter_contact": contact,
        },
    )
    assert reported.status_code == 201, reported.text
    return reported.json()["id"]
