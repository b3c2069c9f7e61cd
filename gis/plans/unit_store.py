"""Units in PostGIS: build them once per community (at import or on demand) and store them with their adjacency.

The geometry work is gis/plans/units.py; this module reads a community's boundary, buildings and streets in the
dataset's metric CRS, and writes units, unit adjacency and each building's unit in one go.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.engine import psycopg_connection
from gis.geo import dataset
from gis.geo.crs import STORAGE_CRS
from gis.geo.frames import metric_frame
from gis.plans.units import build_units, unit_adjacency


@dataclass(frozen=True)
class CommunityUnits:
    community: str
    units: int
    open_units: int
    buildings: int
    notes: tuple[str, ...]


def communities_without_units(session: Session) -> list[int]:
    return list(
        session.execute(
            text(
                "SELECT c.id FROM communities c WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.community_id = c.id) "
                "ORDER BY c.code"
            )
        ).scalars()
    )


def ensure_units(session: Session) -> list[CommunityUnits]:
    """Build units for every community that has none yet."""
    return [build_community_units(session, community_id) for community_id in communities_without_units(session)]


def build_community_units(session: Session, community_id: int) -> CommunityUnits:
    """Replace the units of one community. Plans that assigned the old units lose those assignments."""
    epsg = dataset.metric_epsg(session)
    code, boundary = session.execute(
        text("SELECT code, ST_AsBinary(ST_Transform(boundary, :epsg)) FROM communities WHERE id = :id"),
        {"epsg": epsg, "id": community_id},
    ).one()
    boundary = shapely.from_wkb(boundary)
    buildings = metric_frame(
        session,
        """SELECT id, compound, households, COALESCE(population_resident, 0) AS population,
                       ST_Transform(footprint, :epsg) AS geom
                FROM buildings WHERE community_id = :id ORDER BY id""",
        {"id": community_id},
        index_col="id",
    )
    streets = metric_frame(
        session,
        """SELECT ST_Transform(e.geom, :epsg) AS geom FROM network_edges e, communities c
                WHERE c.id = :id AND ST_Intersects(e.geom, c.boundary)""",
        {"id": community_id},
    ).geometry
    layout = build_units(boundary, buildings, streets if len(streets) else None)

    session.execute(text("UPDATE buildings SET unit_id = NULL WHERE community_id = :id"), {"id": community_id})
    session.execute(text("DELETE FROM units WHERE community_id = :id"), {"id": community_id})

    units = layout.units.copy()
    members = buildings.join(layout.building_unit.rename("unit"))
    totals = members.groupby("unit").agg(
        households=("households", "sum"), population=("population", "sum"), buildings=("households", "size")
    )
    # A unit's compound is its buildings' compound when they agree (compounds are kept whole when balancing).
    compound = members.groupby("unit")["compound"].agg(lambda c: c.iloc[0] if c.nunique(dropna=False) == 1 else None)
    units = units.join(totals).join(compound.rename("compound"))
    units[["households", "population", "buildings"]] = units[["households", "population", "buildings"]].fillna(0)
    units["compound"] = units["compound"].astype(object).where(units["compound"].notna(), None)  # NaN is no compound
    units["area_m2"] = units.geometry.area
    ids = _write_units(session, community_id, units, epsg)

    unit_of_building = pd.Series(ids[layout.building_unit.to_numpy()], index=layout.building_unit.index)
    _link_buildings(session, unit_of_building)
    pairs = unit_adjacency(units.geometry)
    _write_adjacency(session, ids, pairs)
    return CommunityUnits(code, len(units), int((units["kind"] == "open").sum()), len(buildings), tuple(layout.notes))


def _write_units(session: Session, community_id: int, units: gpd.GeoDataFrame, epsg: int) -> np.ndarray:
    """Insert units in order; returns their new ids in the same order."""
    geoms = gpd.GeoSeries(units.geometry, crs=epsg).to_crs(STORAGE_CRS).to_numpy()
    geoms = np.array([g if g.geom_type == "MultiPolygon" else shapely.multipolygons([g]) for g in geoms], dtype=object)
    ewkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    first = (
        session.execute(text("SELECT nextval('units_id_seq') FROM generate_series(1, :n)"), {"n": len(units)})
        .scalars()
        .all()
    )
    conn = psycopg_connection(session)  # COPY in the session's own transaction
    columns = ["id", "community_id", "kind", "compound", "households", "buildings", "population", "area_m2", "geom"]
    statement = sql.SQL("COPY units ({}) FROM STDIN").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for unit_id, row, geom in zip(first, units.itertuples(index=False), ewkb, strict=True):
            copy.write_row(
                [
                    unit_id,
                    community_id,
                    row.kind,
                    row.compound,
                    int(row.households),
                    int(row.buildings),
                    int(row.population),
                    float(row.area_m2),
                    geom,
                ]
            )
    return np.asarray(first, dtype=np.int64)


def _link_buildings(session: Session, unit_of_building: pd.Series) -> None:
    if unit_of_building.empty:
        return
    session.execute(
        text("""UPDATE buildings b SET unit_id = m.unit FROM unnest(CAST(:b AS bigint[]), CAST(:u AS bigint[]))
                AS m(building, unit) WHERE b.id = m.building"""),
        {"b": unit_of_building.index.astype(int).tolist(), "u": unit_of_building.astype(int).tolist()},
    )


def _write_adjacency(session: Session, ids: np.ndarray, pairs: np.ndarray) -> None:
    if not len(pairs):
        return
    a, b = ids[pairs[:, 0]], ids[pairs[:, 1]]
    low, high = np.minimum(a, b), np.maximum(a, b)
    session.execute(
        text(
            "INSERT INTO unit_adjacency (unit_a, unit_b) SELECT * FROM unnest(CAST(:a AS bigint[]), "
            "CAST(:b AS bigint[])) ON CONFLICT DO NOTHING"
        ),
        {"a": low.tolist(), "b": high.tolist()},
    )
