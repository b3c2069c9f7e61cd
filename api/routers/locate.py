"""GET /api/locate: a point in any coordinate system used in China → grid, community, street, workers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import ReaderDep, SettingsDep
from gis.coordinates import point_to_wgs84
from gis.locate import locate

router = APIRouter(prefix="/api", tags=["locate"])


@router.get("/locate")
def locate_point(
    reader: ReaderDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(description="longitude, or easting x for a projected EPSG system")],
    lat: Annotated[float, Query(description="latitude, or northing y for a projected EPSG system")],
    crs: Annotated[
        str, Query(description="wgs84 | cgcs2000 | gcj02 (AMap, Tencent, WeChat) | bd09 (Baidu) | EPSG:n")
    ] = "wgs84",
) -> JSONResponse:
    wgs_lon, wgs_lat = point_to_wgs84(lon, lat, crs, where="lon/lat")
    found = locate(reader, wgs_lon, wgs_lat, snap_m=settings.locate_snap_m)
    # A plain JSON response: the answer is already JSON-ready, and skipping FastAPI's generic encoder
    # is a large share of this hot route's cost.
    return JSONResponse(found | {"input": {"lon": lon, "lat": lat, "crs": crs}})
