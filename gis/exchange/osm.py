"""Importing an OpenStreetMap extract (.osm.pbf) with pyrosm: buildings, the walking network and amenities,
and water and green areas for the basemap (table `landcover`, upserted by OSM id).

Buildings without household counts get an estimate (footprint × levels ÷ dwelling size), flagged as
estimated. Amenities map to facility categories through the registry's OSM tags. When the database has
no community boundaries, one area covering the data is created so the rest of the platform works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from gis.coverage.network_store import CROSSINGS_KEY
from gis.errors import FileRejected
from gis.exchange.load import ImportReport, Progress, import_frame
from gis.geo import dataset
from gis.geo.crs import STORAGE_CRS
from gis.registry import facility_registry
from gis.settings import Settings

RESIDENTIAL = {
    "residential",
    "apartments",
    "house",
    "detached",
    "semidetached_house",
    "terrace",
    "dormitory",
    "bungalow",
    "farm",
    "cabin",
}
POI_KEYS = ("amenity", "leisure", "shop", "social_facility")
# Areas the basemap draws (gis/layers/basemap.py): tag → values, each value water or green. Pitches and
# playgrounds are left out: they are as often paved as green.
LANDCOVER: dict[str, dict[str, str]] = {
    "natural": {"water": "water", "wood": "green", "scrub": "green", "grassland": "green", "wetland": "green"},
    "waterway": {"riverbank": "water"},
    "landuse": {
        "reservoir": "water",
        "basin": "water",
        "pond": "water",
        "grass": "green",
        "forest": "green",
        "meadow": "green",
        "recreation_ground": "green",
        "village_green": "green",
    },
    "leisure": {"park": "green", "garden": "green", "nature_reserve": "green"},
}
# Placeholder hierarchy for extracts that carry no administrative boundaries.
PLACEHOLDER = {"district": "000000", "street": "000000000", "community": "000000000001"}


def import_osm(
    session: Session,
    path: str | Path,
    *,
    settings: Settings,
    progress: Progress | None = None,
    actor: str = "system",
) -> list[ImportReport]:
    """Import buildings, walking network and facilities from `path` inside the caller's transaction."""
    import pyrosm  # heavy; only the OSM import needs it

    path = Path(path)
    if not path.exists():
        raise FileRejected(f"{path}: no such file", where="path")
    try:
        osm = pyrosm.OSM(str(path))
        buildings = osm.get_buildings()
        network = osm.get_network(network_type="walking")
        pois = osm.get_pois(custom_filter={key: True for key in POI_KEYS})
        entrances = osm.get_pois(custom_filter={"entrance": True})
        landcover = osm.get_data_by_custom_criteria(
            custom_filter={tag: list(values) for tag, values in LANDCOVER.items()},
            filter_type="keep",
            keep_nodes=False,
        )
    except Exception as exc:  # pyrosm raises plain exceptions on corrupt input
        raise FileRejected(f"{path.name}: cannot read the OpenStreetMap extract: {exc}", where="path") from exc

    # OSM marks every junction with a shared node: a crossing without one is a bridge or a tunnel.
    dataset.set_meta(session, CROSSINGS_KEY, "false")
    layers = (
        ("buildings", _buildings(buildings), "buildings"),
        ("network", _network(network), "walking network"),
        ("facilities", _facilities(pois), "amenities"),
    )
    reports = [
        import_frame(
            session, layer, frame, settings=settings, source=f"{path.name} {what}", progress=progress, actor=actor
        )
        for layer, frame, what in layers
    ]
    if _ensure_community(session, path.stem.split(".")[0]):
        reports[0].notes.append("the extract has no community boundaries: created one community covering the data")
    placed = _link_entrances(session, entrances)
    reports[0].notes.append(f"{placed} buildings have their entrance from OSM (walking starts there)")
    water, green = _store_landcover(session, _landcover(landcover))
    reports[0].notes.append(f"basemap: {water} water and {green} green areas")
    return reports


def _landcover(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """source_id, kind (water wins over green when an area has both tags), name; polygons only."""
    if frame is None or frame.empty:
        return _empty(["source_id", "kind", "name"])
    frame = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    kind = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for wanted in ("green", "water"):  # water last: it overrides
        for tag, values in LANDCOVER.items():
            hit = _column(frame, tag).map(values).eq(wanted)
            kind = kind.mask(hit, wanted)
    keep = kind.notna().to_numpy()
    frame, kind = frame[keep], kind[keep]
    areas = gpd.GeoDataFrame(
        {"source_id": _source_ids(frame, "way"), "kind": kind, "name": _column(frame, "name")},
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs or STORAGE_CRS,
    ).to_crs(STORAGE_CRS)
    # One row per OSM id: an upsert may touch a row only once.
    return areas.drop_duplicates("source_id")


def _store_landcover(session: Session, frame: gpd.GeoDataFrame) -> tuple[int, int]:
    """Upsert the areas by OSM id (made valid, polygonal parts kept); returns how many water and green areas."""
    if frame.empty:
        return 0, 0
    rows = session.execute(
        text("""
        INSERT INTO landcover (source_id, kind, name, geom)
        SELECT s, k, n, g
        FROM (SELECT s, k, n, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB(w, 4326)), 3)) AS g
              FROM unnest(CAST(:s AS text[]), CAST(:k AS text[]), CAST(:n AS text[]), CAST(:w AS bytea[]))
                   AS u(s, k, n, w)) v
        WHERE NOT ST_IsEmpty(g)
        ON CONFLICT (source_id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, geom = EXCLUDED.geom
        RETURNING kind"""),
        {
            "s": frame["source_id"].tolist(),
            "k": frame["kind"].tolist(),
            "n": frame["name"].astype(object).where(frame["name"].notna(), None).tolist(),
            "w": [bytes(b) for b in shapely.to_wkb(frame.geometry.to_numpy())],
        },
    ).scalars()
    kinds = list(rows)
    return kinds.count("water"), kinds.count("green")


def _link_entrances(session: Session, entrances: gpd.GeoDataFrame | None) -> int:
    """Give each building the OSM entrance node on (or within 2 m of) its outline; `main` entrances first."""
    if entrances is None or entrances.empty:
        return 0
    points = entrances[entrances.geom_type == "Point"]
    if points.empty:
        return 0
    main = (_column(points, "entrance") == "main").to_numpy()
    result = session.execute(
        text("""
        UPDATE buildings b SET entrance = pick.geom
        FROM (SELECT DISTINCT ON (b.id) b.id, e.geom
              FROM (SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) AS geom, main
                    FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[]), CAST(:main AS boolean[]))
                         AS u(x, y, main)) e
              JOIN buildings b ON b.footprint && ST_Expand(e.geom, 0.0001)
                              AND ST_DWithin(b.footprint::geography, e.geom::geography, 2)
              ORDER BY b.id, e.main DESC, ST_Distance(b.footprint::geography, e.geom::geography)) pick
        WHERE b.id = pick.id"""),
        {"x": points.geometry.x.tolist(), "y": points.geometry.y.tolist(), "main": main.tolist()},
    )
    return cast(CursorResult[Any], result).rowcount


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=STORAGE_CRS))


def _source_ids(frame: pd.DataFrame, kind: str) -> pd.Series:
    return _column(frame, "osm_type").fillna(kind).astype(str) + "/" + frame["id"].astype(str)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _buildings(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if frame is None or frame.empty:
        return _empty(["source_id"])
    levels = pd.to_numeric(_column(frame, "building:levels"), errors="coerce")
    street, number = _column(frame, "addr:street"), _column(frame, "addr:housenumber")
    address = (street.fillna("") + " " + number.fillna("")).str.strip().replace("", None)
    return gpd.GeoDataFrame(
        {
            "source_id": _source_ids(frame, "way"),
            "name": _column(frame, "name"),
            "address": address,
            "floors": levels.where(levels >= 1).round(),
            "residential": _column(frame, "building").isin(RESIDENTIAL),
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs or STORAGE_CRS,
    )


def _network(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if frame is None or frame.empty:
        return _empty(["source_id"])
    return gpd.GeoDataFrame(
        {"source_id": _source_ids(frame, "way"), "name": _column(frame, "name"), "kind": _column(frame, "highway")},
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs or STORAGE_CRS,
    )


def _facilities(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if frame is None or frame.empty:
        return _empty(["source_id", "category"])
    registry = facility_registry()
    tags = frame[[k for k in POI_KEYS if k in frame]].astype(object).where(lambda t: t.notna(), None)
    category = [registry.osm_category(row) for row in tags.to_dict("records")]
    keep = np.array([c is not None for c in category])
    frame = frame[keep]
    # Areas and lines (a park, a school ground) are located at a point inside them.
    points = shapely.point_on_surface(frame.geometry.to_numpy())
    return gpd.GeoDataFrame(
        {
            "source_id": _source_ids(frame, "node"),
            "category": [c for c in category if c is not None],
            "name": _column(frame, "name"),
            "public": True,
        },
        geometry=points,
        crs=frame.crs or STORAGE_CRS,
    )


def _ensure_community(session: Session, name: str) -> bool:
    """Create district → street → community covering all data when there are no communities."""
    if session.execute(text("SELECT EXISTS (SELECT 1 FROM communities)")).scalar_one():
        return False
    epsg = dataset.metric_epsg(session)
    hull = session.execute(
        text("""
        SELECT ST_AsEWKB(ST_Multi(ST_Transform(ST_Buffer(ST_ConvexHull(ST_Collect(ST_Transform(g, :epsg))), 50),
                                               4326)))
        FROM (SELECT footprint AS g FROM buildings UNION ALL SELECT geom FROM network_edges
              UNION ALL SELECT geom FROM facilities) d"""),
        {"epsg": epsg},
    ).scalar_one()
    if hull is None:
        return False
    session.execute(
        text("""
        WITH d AS (INSERT INTO districts (code, name, boundary) VALUES (:d, :name, ST_GeomFromEWKB(:hull))
                   ON CONFLICT (code) DO UPDATE SET name = districts.name RETURNING id),
             s AS (INSERT INTO streets (code, name, district_id, boundary)
                   SELECT :s, :name, d.id, ST_GeomFromEWKB(:hull) FROM d
                   ON CONFLICT (code) DO UPDATE SET name = streets.name RETURNING id)
        INSERT INTO communities (code, name, street_id, boundary) SELECT :c, :name, s.id, ST_GeomFromEWKB(:hull) FROM s
        """),
        {
            "d": PLACEHOLDER["district"],
            "s": PLACEHOLDER["street"],
            "c": PLACEHOLDER["community"],
            "name": name,
            "hull": hull,
        },
    )
    session.execute(
        text("""UPDATE buildings SET community_id = (SELECT id FROM communities WHERE code = :c)
                WHERE community_id IS NULL"""),
        {"c": PLACEHOLDER["community"]},
    )
    return True
