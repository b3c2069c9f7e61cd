"""Reading query results as GeoDataFrames in the dataset's metric CRS (areas, lengths and overlays in metres)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geo import dataset


def metric_frame(
    session: Session, query: str, params: dict[str, Any] | None = None, *, index_col: str | None = None
) -> gpd.GeoDataFrame:
    """Run `query`, whose geometry column `geom` is ST_Transform(..., :epsg), as a frame in that CRS.

    The CRS is set even when no row comes back, so empty layers combine with others.
    """
    epsg = dataset.metric_epsg(session)
    return gpd.read_postgis(
        text(query),
        session.connection(),
        geom_col="geom",
        params={**(params or {}), "epsg": epsg},
        index_col=index_col,
        crs=epsg,
    )
