"""GET /tiles/{layer}/{z}/{x}/{y}.pbf: Mapbox vector tiles from PostGIS, cacheable by ETag; /tiles/basemap/… is
the app's own basemap (every layer of it in one tile). Both come through the server process's tile cache
(gis/layers/tiles.py), kept by data version."""

from __future__ import annotations

import threading
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from api.deps import ReadSessionDep
from api.media_types import MVT
from gis.layers import basemap, tiles

router = APIRouter(tags=["tiles"])

# What a tile route answers: the tile (empty where nothing lies), or 304 when the client's copy is current.
TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: {}}, "description": "the tile"},
    304: {"description": "not modified: the tile has the ETag sent in If-None-Match"},
}
_CACHE_LOCK = threading.Lock()


def tile_cache(request: Request) -> tiles.TileCache | None:
    """The server process's tile cache, made on first use (None when GRIDMAP_TILE_CACHE_BYTES is 0)."""
    state = request.app.state
    if not hasattr(state, "tile_cache"):
        with _CACHE_LOCK:
            if not hasattr(state, "tile_cache"):
                size = state.settings.tile_cache_bytes
                state.tile_cache = tiles.TileCache(size) if size else None
    cache: tiles.TileCache | None = state.tile_cache
    return cache


TileCacheDep = Annotated[tiles.TileCache | None, Depends(tile_cache)]


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
    session: ReadSessionDep,
    cache: TileCacheDep,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    crs: Annotated[str, Query(description="wgs84, or gcj02 to line up with AMap/Tencent basemaps")] = "wgs84",
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    render = partial(basemap.render_basemap, session, z, x, y, crs=crs)  # which checks z/x/y and crs
    found = tiles.cached(session, cache, ("basemap", z, x, y, crs), basemap.SOURCES, render)
    return tile_response(found, if_none_match)


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses=TILE_RESPONSES,
    summary="a Mapbox vector tile (EPSG:3857)",
)
def tile(
    session: ReadSessionDep,
    cache: TileCacheDep,
    layer: str,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    plan: Annotated[int | None, Query(description="grid plan id (grids only; default: current)")] = None,
    crs: Annotated[str, Query(description="wgs84, or gcj02 to line up with AMap/Tencent basemaps")] = "wgs84",
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    found = tiles.serve_tile(session, cache, tiles.tile_layer(layer), z, x, y, plan_id=plan, crs=crs)
    return tile_response(found, if_none_match)


def tile_response(tile: tiles.Tile | bytes, if_none_match: str | None) -> Response:
    """A tile with its ETag; 304 when the client already has it (also used by /ogc tiles)."""
    if isinstance(tile, bytes):
        tile = tiles.Tile.of(tile)
    # Short max-age, then revalidate: layers change (plan edits, new incidents) and the ETag says when.
    headers = {"ETag": tile.etag, "Cache-Control": "public, max-age=60, must-revalidate"}
    if if_none_match is not None and _matches(if_none_match, tile.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=tile.data, media_type=MVT, headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """Whether If-None-Match names the ETag: one of a comma-separated list, weak (W/) or strong, or *."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags
