"""Finding a place by address or building name in the building layer (for reports without coordinates)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput

MAX_QUERY = 200


def resolve_address(session: Session, query: str) -> tuple[float, float, int]:
    """(lon, lat, building id) of the building whose address or name best matches `query`.

    An exact match of address or name wins; otherwise the shortest address or name containing the query.
    """
    wanted = query.strip()
    if not wanted or len(wanted) > MAX_QUERY:
        raise InvalidInput(f"address: give 1 to {MAX_QUERY} characters", where="address")
    row = session.execute(
        text("""
        SELECT b.id, ST_X(p) AS lon, ST_Y(p) AS lat FROM buildings b, LATERAL ST_PointOnSurface(b.footprint) p
        WHERE b.address = :q OR b.name = :q
           OR b.address ILIKE '%' || :like || '%' ESCAPE '\\' OR b.name ILIKE '%' || :like || '%' ESCAPE '\\'
        ORDER BY (b.address = :q OR b.name = :q) DESC, length(COALESCE(b.address, b.name)), b.id
        LIMIT 1"""),
        {"q": wanted, "like": wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")},
    ).first()
    if row is None:
        raise InvalidInput(f"address: no building matches {wanted!r}; give coordinates instead", where="address")
    return float(row.lon), float(row.lat), int(row.id)
