"""GET /api/locate: a point in any coordinate system used in China → grid, community, street, workers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.schemas.locate import Located
from gis.geo.coordinates import point_to_wgs84
from gis.locate.point import locate_async

router = APIRouter(prefix="/api", tags=["locate"])


# The model documents the answer; the route sends it as built (see below), so it is not re-validated.
@router.get("/locate", response_model=Located)
async def locate_point(
    request: Request,
    lon: Annotated[float, Query(description="longitude, or easting x for a projected EPSG system")],
    lat: Annotated[float, Query(description="latitude, or northing y for a projected EPSG system")],
    crs: Annotated[
        str, Query(description="wgs84 | cgcs2000 | gcj02 (AMap, Tencent, WeChat) | bd09 (Baidu) | EPSG:n")
    ] = "wgs84",
) -> JSONResponse:
    # Async end to end (DESIGN: no blocking session in an async route): the dispatcher's hot path.
    wgs_lon, wgs_lat = point_to_wgs84(lon, lat, crs, where="lon/lat")
    async with request.app.state.read_pool.connection() as connection:
        found = await locate_async(connection, wgs_lon, wgs_lat, snap_m=request.app.state.settings.locate_snap_m)
    # Already JSON-ready: skipping FastAPI's generic encoder is a large share of this route's cost.
    return JSONResponse(found | {"input": {"lon": lon, "lat": lat, "crs": crs}})
