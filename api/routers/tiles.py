"""GET /tiles/{layer}/{z}/{x}/{y}.pbf: Mapbox vector tiles from PostGIS, cacheable by ETag; /tiles/basemap/… is
the app's own basemap (every layer of it in one tile)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from api.deps import SessionDep
from api.media_types import MVT
from gis.layers import basemap, tiles

router = APIRouter(tags=["tiles"])

# What a tile route answers: the tile (empty where nothing lies), or 304 when the client's copy is current.
TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: {}}, "description": "the tile"},
    304: {"description": "not modified: the tile has the ETag sent in If-None-Match"},
}


# Declared before /tiles/{layer}/…, which would otherwise take "basemap" for a layer name.
@router.get(
    "/tiles/basemap/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses=TILE_RESPONSES,
    summary="the app's own basemap as one Mapbox vector tile (EPSG:3857, z10–z19)",
    description="Layers `water`, `green`, `boundaries` (level, name), `streets` (name, kind, class), `buildings` "
    "(from z15, footprints only) and `places` (label points: level, name). Empty outside z10–z19.",
)
def basemap_tile(
    session: SessionDep,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    crs: Annotated[str, Query(description="wgs84, or gcj02 to line up with AMap/Tencent basemaps")] = "wgs84",
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    return tile_response(basemap.render_basemap(session, z, x, y, crs=crs), if_none_match)


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses=TILE_RESPONSES,
    summary="a Mapbox vector tile (EPSG:3857)",
)
def tile(
    session: SessionDep,
    layer: str,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    plan: Annotated[int | None, Query(description="grid plan id (grids only; default: current)")] = None,
    crs: Annotated[str, Query(description="wgs84, or gcj02 to line up with AMap/Tencent basemaps")] = "wgs84",
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    data = tiles.render_tile(session, tiles.tile_layer(layer), z, x, y, plan_id=plan, crs=crs)
    return tile_response(data, if_none_match)


def etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def tile_response(data: bytes, if_none_match: str | None) -> Response:
    """A tile with its ETag; 304 when the client already has it (also used by /ogc tiles)."""
    tag = etag(data)
    # Short max-age, then revalidate: layers change (plan edits, new incidents) and the ETag says when.
    headers = {"ETag": tag, "Cache-Control": "public, max-age=60, must-revalidate"}
    if if_none_match == tag:
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type=MVT, headers=headers)
