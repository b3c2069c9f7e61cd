"""Name search over public base data: buildings (name or address), compounds (小区) and facilities.

Residents choose where a problem is by typing a place they know. Only public fields leave: the place's kind,
name, category and community, and a representative point. Households and population are never read.

Plain ILIKE with a LIMIT per kind: the database has no pg_trgm, and a district's few thousand names scan in
milliseconds. Matches whose name starts with the query come first, then shorter names.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput

MAX_QUERY = 100
MAX_LIMIT = 50


def _like(query: str) -> str:
    """`query` as a literal inside an ILIKE pattern (ESCAPE '\\')."""
    return query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Each kind: its matches with a name, a category, a community and a point, ranked by (prefix match, length).
_SEARCH = text("""
(SELECT 'facility' AS kind, f.name, f.category, c.name AS community, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat,
        NOT f.name ILIKE :prefix ESCAPE '\\' AS later, length(f.name) AS size
 FROM facilities f LEFT JOIN LATERAL (
     SELECT name FROM communities WHERE ST_Covers(boundary, f.geom) ORDER BY code LIMIT 1) c ON true
 WHERE f.name ILIKE :contains ESCAPE '\\'
 ORDER BY later, size, f.name LIMIT :limit)
UNION ALL
(SELECT 'compound', g.compound, NULL, g.community, ST_X(g.p), ST_Y(g.p),
        NOT g.compound ILIKE :prefix ESCAPE '\\', length(g.compound)
 FROM (SELECT b.compound, min(c.name) AS community, ST_PointOnSurface(ST_Collect(b.footprint)) AS p
       FROM buildings b LEFT JOIN communities c ON c.id = b.community_id
       WHERE b.compound ILIKE :contains ESCAPE '\\'
       GROUP BY b.compound, b.community_id) g
 ORDER BY 7, 8, 2 LIMIT :limit)
UNION ALL
(SELECT 'building', b.label, NULL, c.name, ST_X(p), ST_Y(p), NOT b.label ILIKE :prefix ESCAPE '\\', length(b.label)
 FROM (SELECT id, community_id, footprint,
              -- "17幢" alone says little: the address names it, and a proper name goes with its address
              CASE WHEN address IS NULL THEN name
                   WHEN name IS NULL OR strpos(address, name) > 0 THEN address
                   ELSE name || '（' || address || '）' END AS label
       FROM buildings WHERE name ILIKE :contains ESCAPE '\\' OR address ILIKE :contains ESCAPE '\\') b
 LEFT JOIN communities c ON c.id = b.community_id, LATERAL ST_PointOnSurface(b.footprint) p
 ORDER BY 7, 8, 2 LIMIT :limit)
""")

KIND_ORDER = {"facility": 0, "compound": 1, "building": 2}


def search_places(session: Session, query: str, *, limit: int = 10) -> dict[str, Any]:
    """Places whose name (a building's also its address) contains `query`: a GeoJSON FeatureCollection of points
    with properties kind, name, category, community; at most `limit` features."""
    wanted = query.strip()
    if not wanted or len(wanted) > MAX_QUERY:
        raise InvalidInput(f"q: give 1 to {MAX_QUERY} characters of a name", where="q")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: give 1 to {MAX_LIMIT}", where="limit")
    like = _like(wanted)
    rows = session.execute(_SEARCH, {"contains": f"%{like}%", "prefix": f"{like}%", "limit": limit}).all()
    ranked = sorted(rows, key=lambda r: (r.later, r.size, KIND_ORDER[r.kind], r.name))[:limit]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(r.lon, 6), round(r.lat, 6)]},
                "properties": {"kind": r.kind, "name": r.name, "category": r.category, "community": r.community},
            }
            for r in ranked
        ],
    }
