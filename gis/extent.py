"""Where the data is: the centre of what the database holds, for framing maps."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

DEFAULT_CENTER = (29.87, 121.55)  # Haishu, Ningbo: the demo district


def data_center(session: Session) -> tuple[float, float]:
    """(lat, lon) of the centre of the communities, else of the buildings, else the demo district."""
    for table, column in (("communities", "boundary"), ("buildings", "footprint")):
        row = session.execute(
            text(f"SELECT ST_Y(c), ST_X(c) FROM (SELECT ST_Centroid(ST_Extent({column})::geometry) c FROM {table}) s")
        ).first()
        if row and row[0] is not None:
            return float(row[0]), float(row[1])
    return DEFAULT_CENTER
