"""GET /api/locate: a point in any coordinate system used in China → grid, community, street, workers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import SessionDep, SettingsDep
from gis.coordinates import point_to_wgs84
from gis.locate import locate

router = APIRouter(prefix="/api", tags=["locate"])


@router.get("/locate")
def locate_point(
    session: SessionDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(description="longitude, or easting x for a projected EPSG system")],
    lat: Annotated[float, Query(description="latitude, or northing y for a projected EPSG system")],
    crs: Annotated[
        str, Query(description="wgs84 | cgcs2000 | gcj02 (AMap, Tencent, WeChat) | bd09 (Baidu) | EPSG:n")
    ] = "wgs84",
) -> dict[str, Any]:
    wgs_lon, wgs_lat = point_to_wgs84(lon, lat, crs, where="lon/lat")
    return locate(session, wgs_lon, wgs_lat, snap_m=settings.locate_snap_m) | {
        "input": {"lon": lon, "lat": lat, "crs": crs}
    }
