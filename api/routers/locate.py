"""GET /api/locate: a point in any coordinate system used in China → grid, community, street, workers."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api.limits import no_nul_characters
from api.schemas.locate import Located
from gis.geo.coordinates import point_to_wgs84

router = APIRouter()
documented = APIRouter(prefix="/api", tags=["locate"])

PATH = "/locate"


async def _located(app: Any, lon: float, lat: float, crs: str) -> JSONResponse:
    # Points inside a grid are answered from this process's copy of the published plan (gis.locate.published),
    # others by PostGIS; async end to end (DESIGN: no blocking session in an async route).
    wgs_lon, wgs_lat = point_to_wgs84(lon, lat, crs, where="lon/lat")
    found = await app.state.published_plan.locate(wgs_lon, wgs_lat, snap_m=app.state.settings.locate_snap_m)
    # Already JSON-ready: skipping FastAPI's generic encoder is a large share of this route's cost.
    return JSONResponse(found | {"input": {"lon": lon, "lat": lat, "crs": crs}})


# The model documents the answer; the route sends it as built (see below), so it is not re-validated.
@documented.get(PATH, response_model=Located)
async def locate_point(
    request: Request,
    lon: Annotated[float, Query(description="longitude, or easting x for a projected EPSG system")],
    lat: Annotated[float, Query(description="latitude, or northing y for a projected EPSG system")],
    crs: Annotated[
        str, Query(description="wgs84 | cgcs2000 | gcj02 (AMap, Tencent, WeChat) | bd09 (Baidu) | EPSG:n")
    ] = "wgs84",
) -> JSONResponse:
    return await _located(request.app, lon, lat, crs)


# -- the hot path ---------------------------------------------------------------------------------------------
# The dispatcher's and the report pages' busiest call, thousands a second: FastAPI's parameter and dependency
# machinery costs more than the answer itself. A plain ASGI route in front of the documented one above answers
# requests made exactly as documented — lon and lat plain decimal numbers, crs a printable name, nothing else —
# with the same function; anything else (an error to report, a parameter it does not know) goes to the documented
# route, so validation messages and the OpenAPI description stay FastAPI's. The middleware runs for both.

NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
NAME = re.compile(r"[A-Za-z0-9:_.-]{1,32}")


def _plain_query(query_string: bytes) -> tuple[float, float, str] | None:
    """(lon, lat, crs) of a query the documented route would accept as it is; None for any other."""
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return None
    params = dict(pairs)
    if len(params) != len(pairs) or not {"lon", "lat"} <= params.keys() <= {"lon", "lat", "crs"}:
        return None
    lon, lat, crs = params["lon"], params["lat"], params.get("crs", "wgs84")
    if not (NUMBER.fullmatch(lon) and NUMBER.fullmatch(lat) and NAME.fullmatch(crs)):
        return None
    return float(lon), float(lat), crs


class _FastLocate:
    """ASGI app of the hot path; hands every request it does not answer itself to the documented route."""

    calls = 0  # requests answered here (tests check the hot path is the one taken)

    def __init__(self, documented: APIRouter) -> None:
        self.documented = documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parsed = _plain_query(scope.get("query_string", b"")) if scope["method"] == "GET" else None
        if parsed is None:
            await self.documented(scope, receive, send)
            return
        _FastLocate.calls += 1
        response = await _located(scope["app"], *parsed)
        await response(scope, receive, send)


# First in the router: it is matched before the documented route (which stays in the OpenAPI description). What it
# hands on goes to that route with the dependencies the app puts on every route (api.limits: no NUL characters).
_fallback = APIRouter(dependencies=[Depends(no_nul_characters)])
_fallback.include_router(documented)
router.routes.append(Route(documented.prefix + PATH, _FastLocate(_fallback), methods=["GET"], include_in_schema=False))
router.include_router(documented)
