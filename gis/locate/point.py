"""Locating a point: its grid in the current plan, and with it the community, street, district and workers.

Rule for shared edges: a point on the boundary between grids (covered by several) belongs to the one with
the lowest grid code — deterministic, and the same rule as the bulk locator. A point in no grid gets the
nearest grid: "snapped" within the snap distance (default 50 m), "outside" beyond it (the nearest grid is
still given, for reference). Distances are geodesic metres.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gis.errors import Conflict

# One round trip: the current plan; the covering grid (lowest code wins on shared edges), else the nearest
# by the GiST index (<->), re-ranked by true distance among a few candidates because <-> on lon/lat is
# planar; then the grid's community, street, district and workers (by display name: anyone may locate, and a
# login is for staff only).
LOCATE_SQL = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
plan AS (SELECT id FROM grid_plans WHERE status = 'published'),
covering AS (
    SELECT g.id, 0.0::float8 AS distance_m FROM grids g, p
    WHERE g.plan_id = (SELECT id FROM plan) AND ST_Covers(g.geom, p.g)
    ORDER BY g.code LIMIT 1
),
nearest AS (
    SELECT c.id, ST_Distance(c.geom::geography, p.g::geography) AS distance_m
    FROM (SELECT g.id, g.geom, g.code FROM grids g, p WHERE g.plan_id = (SELECT id FROM plan)
          ORDER BY g.geom <-> p.g LIMIT 5) c, p
    WHERE NOT EXISTS (SELECT 1 FROM covering)
    ORDER BY distance_m, c.code LIMIT 1
),
hit AS (SELECT * FROM covering UNION ALL SELECT * FROM nearest)
SELECT (SELECT id FROM plan) AS plan_id, hit.distance_m,
       g.id AS grid_id, g.code AS grid_code, g.name AS grid_name,
       c.id AS community_id, c.code AS community_code, c.name AS community_name,
       s.id AS street_id, s.code AS street_code, s.name AS street_name,
       d.id AS district_id, d.code AS district_code, d.name AS district_name,
       (SELECT COALESCE(json_agg(json_build_object('id', u.id, 'name', u.display_name) ORDER BY u.id), '[]'::json)
        FROM grid_workers w JOIN users u ON u.id = w.user_id WHERE w.grid_lineage = g.lineage) AS workers
FROM (SELECT 1) one
LEFT JOIN hit ON true
LEFT JOIN grids g ON g.id = hit.id
LEFT JOIN communities c ON c.id = g.community_id
LEFT JOIN streets s ON s.id = c.street_id
LEFT JOIN districts d ON d.id = s.district_id
"""


def _area(row: Any, prefix: str) -> dict[str, Any] | None:
    if getattr(row, f"{prefix}_id") is None:
        return None
    return {
        "id": getattr(row, f"{prefix}_id"),
        "code": getattr(row, f"{prefix}_code"),
        "name": getattr(row, f"{prefix}_name"),
    }


# The same statement for a psycopg connection (async hot path), whose placeholders are %(name)s.
LOCATE_SQL_PSYCOPG = re.sub(r":(lon|lat)\b", r"%(\1)s", LOCATE_SQL)


def _answer(row: Any, lon: float, lat: float, snap_m: float) -> dict[str, Any]:
    if row.plan_id is None:
        raise Conflict("there is no published grid plan to locate against; import or publish one", where="plan")
    if row.grid_id is None:
        raise Conflict(f"the published plan {row.plan_id} has no grids", where="plan")
    distance = float(row.distance_m)
    status = "inside" if distance == 0 else "snapped" if distance <= snap_m else "outside"
    return {
        "status": status,
        "distance_m": round(distance, 2),
        "plan_id": row.plan_id,
        "grid": {"id": row.grid_id, "code": row.grid_code, "name": row.grid_name},
        "community": _area(row, "community"),
        "street": _area(row, "street"),
        "district": _area(row, "district"),
        "workers": row.workers,
        "location": {"lon": lon, "lat": lat},
    }


def locate(session: Session | Connection, lon: float, lat: float, *, snap_m: float = 50.0) -> dict[str, Any]:
    """Where (lon, lat) in WGS 84 falls in the current plan (workers: id and display name only, no contacts)."""
    row = session.execute(text(LOCATE_SQL), {"lon": lon, "lat": lat}).one()
    return _answer(row, lon, lat, snap_m)


async def locate_async(connection: AsyncConnection, lon: float, lat: float, *, snap_m: float = 50.0) -> dict[str, Any]:
    """`locate` on an async psycopg connection: the HTTP hot path, with no thread hand-offs."""
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(LOCATE_SQL_PSYCOPG, {"lon": lon, "lat": lat}, prepare=True)
        row = await cursor.fetchone()
    return _answer(row, lon, lat, snap_m)
