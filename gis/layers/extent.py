"""Where the data is: the centre of what the database holds, for framing maps."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import cast, func, select
from sqlalchemy.orm import Session

from gis.layers import queries
from gis.layers.catalog import LAYERS

DEFAULT_CENTER = (29.87, 121.55)  # Haishu, Ningbo: the demo district


def data_center(session: Session) -> tuple[float, float]:
    """(lat, lon) of the centre of the communities, else of the buildings, else the demo district."""
    for layer in (LAYERS["communities"], LAYERS["buildings"]):
        t = queries.table_of(layer)
        box = cast(func.ST_Extent(queries.geometry(t, layer)), Geometry(geometry_type=None))
        centre = func.ST_Centroid(box)
        row = session.execute(select(func.ST_Y(centre), func.ST_X(centre)).select_from(t)).first()
        if row and row[0] is not None:
            return float(row[0]), float(row[1])
    return DEFAULT_CENTER
