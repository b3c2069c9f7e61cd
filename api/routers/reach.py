"""GET /api/reach: what can I reach from here — the nearest facility of every category on foot (public map)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadSessionDep, SettingsDep
from api.limits import TOKEN_CHECKED
from api.schemas.coverage import Reach
from gis.coverage.reach import reach_from
from gis.geo.coordinates import point_to_wgs84

router = APIRouter(tags=["coverage"])


@router.get(
    "/api/reach",
    summary="the nearest facility of every category by walking distance from a point",
    dependencies=[TOKEN_CHECKED],  # a token lifts the anonymous rate limit (api.limits): it must be valid
)
def get_reach(
    session: ReadSessionDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(description="longitude, or easting x for a projected EPSG system")],
    lat: Annotated[float, Query(description="latitude, or northing y for a projected EPSG system")],
    crs: Annotated[
        str, Query(description="wgs84 | cgcs2000 | gcj02 (AMap, Tencent, WeChat) | bd09 (Baidu) | EPSG:n")
    ] = "wgs84",
    speed: Annotated[float | None, Query(gt=0, le=3, description="walking speed, m/s (default 1.2)")] = None,
    path: Annotated[
        bool, Query(description="also the walking route to each nearest facility, as a GeoJSON LineString")
    ] = False,
) -> Reach:
    wgs_lon, wgs_lat = point_to_wgs84(lon, lat, crs, where="lon/lat")
    found = reach_from(
        session,
        wgs_lon,
        wgs_lat,
        speed_mps=speed or settings.walking_speed_mps,
        max_snap_m=settings.coverage_snap_m,
        with_paths=path,
    )
    return Reach.model_validate(found)
