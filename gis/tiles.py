"""Mapbox vector tiles from PostGIS (ST_AsMVT) for the large layers: one declaration per layer.

Tiles are WebMercatorQuad (EPSG:3857) z/x/y. The query envelope is transformed to the storage CRS, never
the column, so the GiST indexes are used; only features inside the tile (plus a small buffer) are encoded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.china_offsets import gcj02_to_wgs84
from gis.db import quote_ident
from gis.errors import InvalidInput, NotFound
from gis.features import current_plan_id

EXTENT = 4096
BUFFER = 64
_TO_LONLAT = Transformer.from_crs(3857, 4326, always_xy=True)
_TO_MERCATOR = Transformer.from_crs(4326, 3857, always_xy=True)


@dataclass(frozen=True)
class TileLayer:
    name: str
    table: str
    geometry: str
    attributes: str  # SQL select list over alias t (no personal fields: tiles may reach public pages)
    min_zoom: int = 0
    where: str = "TRUE"
    plan_scoped: bool = False  # grids: one plan (the current one unless ?plan=)


TILE_LAYERS: dict[str, TileLayer] = {
    layer.name: layer
    for layer in (
        TileLayer("communities", "communities", "boundary", "t.code, t.name", min_zoom=8),
        TileLayer(
            "grids",
            "grids",
            "geom",
            "t.code, t.name, t.households, t.buildings, t.plan_id",
            min_zoom=10,
            where="t.plan_id = :plan",
            plan_scoped=True,
        ),
        TileLayer(
            "buildings",
            "buildings",
            "footprint",
            "t.households, t.residential, t.floors, t.name, "
            "(SELECT c.code FROM communities c WHERE c.id = t.community_id) AS community_code",
            min_zoom=13,
        ),
        TileLayer("facilities", "facilities", "geom", "t.category, t.name, t.public", min_zoom=10),
        TileLayer(
            "incidents",
            "incidents",
            "location",
            "t.category, t.status, t.reported_at::text AS reported_at, "
            "(t.deadline_at IS NOT NULL AND t.deadline_at < now() "
            "AND t.status NOT IN ('closed', 'rejected', 'duplicate')) AS overdue",
            min_zoom=8,
        ),
    )
}


def tile_layer(name: str) -> TileLayer:
    try:
        return TILE_LAYERS[name]
    except KeyError:
        raise NotFound(f"no vector tiles for {name!r}; layers are: {', '.join(TILE_LAYERS)}", where="layer") from None


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= 22:
        raise InvalidInput(f"zoom {z} is outside 0-22", where="z")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInput(f"tile {z}/{x}/{y} does not exist: x and y run from 0 to {2**z - 1}", where="x/y")


def render_tile(
    session: Session, layer: TileLayer, z: int, x: int, y: int, *, plan_id: int | None = None, crs: str = "wgs84"
) -> bytes:
    """The tile as MVT bytes (empty below the layer's minimum zoom or where nothing lies).

    crs="gcj02" cuts the tile in the GCJ-02 grid of AMap/Tencent basemaps: features are moved by the GCJ-02
    shift at the tile's centre (it varies by well under a metre across a tile at street zooms)."""
    check_tile(z, x, y)
    if crs not in ("wgs84", "gcj02"):
        raise InvalidInput(f"crs={crs!r}: tiles come in wgs84 (default) or gcj02", where="crs")
    if z < layer.min_zoom:
        return b""
    dx, dy = _gcj02_shift(z, x, y) if crs == "gcj02" else (0.0, 0.0)
    params: dict[str, object] = {
        "z": z, "x": x, "y": y, "name": layer.name, "extent": EXTENT, "buffer": BUFFER, "dx": dx, "dy": dy,
    }  # fmt: skip
    if layer.plan_scoped:
        params["plan"] = plan_id if plan_id is not None else current_plan_id(session)
    geometry = quote_ident(layer.geometry)
    query = f"""
        WITH tile AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env,
                             ST_Transform(ST_Translate(ST_TileEnvelope(:z, :x, :y,
                                 margin => CAST(:buffer AS float8) / :extent), -:dx, -:dy), 4326) AS query_env),
             features AS (
                SELECT t.id, {layer.attributes},
                       ST_AsMVTGeom(ST_Translate(ST_Transform(t.{geometry}, 3857), :dx, :dy), tile.env,
                                    :extent, :buffer, true) AS geom
                FROM {quote_ident(layer.table)} t, tile
                WHERE t.{geometry} && tile.query_env AND {layer.where})
        SELECT ST_AsMVT(features.*, :name, :extent, 'geom', 'id') FROM features WHERE geom IS NOT NULL"""
    return bytes(session.execute(text(query), params).scalar_one() or b"")


def _gcj02_shift(z: int, x: int, y: int) -> tuple[float, float]:
    """Web-Mercator metres from WGS 84 to GCJ-02 at the centre of tile z/x/y (zero outside China)."""
    half = 20037508.342789244
    size = 2 * half / 2**z
    cx, cy = -half + (x + 0.5) * size, half - (y + 0.5) * size
    lon, lat = _TO_LONLAT.transform(cx, cy)  # the centre as GCJ-02 lon/lat
    wx, wy = _TO_MERCATOR.transform(*gcj02_to_wgs84(lon, lat))
    return cx - wx, cy - wy


def etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
