"""Mapbox vector tiles from PostGIS (ST_AsMVT) for the layers the catalog gives tiles (Layer.tiles).

Tiles are WebMercatorQuad (EPSG:3857) z/x/y. The query envelope is transformed to the storage CRS, never the
column, so the GiST indexes are used; only features inside the tile (plus a small buffer) are encoded. Each
layer's statement is assembled once, at import, from its catalog declaration; a request only binds values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyproj import Transformer
from sqlalchemy import BigInteger, Float, Integer, Select, bindparam, func, literal, select, true
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.geo.china_offsets import gcj02_to_wgs84
from gis.geo.crs import STORAGE_SRID
from gis.layers import queries
from gis.layers.catalog import LAYERS, Layer
from gis.plans.store import current_plan_id

EXTENT = 4096
BUFFER = 64
_TO_LONLAT = Transformer.from_crs(3857, 4326, always_xy=True)
_TO_MERCATOR = Transformer.from_crs(4326, 3857, always_xy=True)


@dataclass(frozen=True)
class TileLayer:
    layer: Layer
    statement: Select[Any]

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def min_zoom(self) -> int:
        return self.layer.tiles.min_zoom if self.layer.tiles else 0


def _statement(layer: Layer) -> Select[Any]:
    """ST_AsMVT over the layer's rows in tile :z/:x/:y, shifted by (:dx, :dy) metres; grids of plan :plan."""
    z, x, y = (bindparam(name, type_=Integer) for name in ("z", "x", "y"))
    dx, dy = bindparam("dx", type_=Float), bindparam("dy", type_=Float)
    # ST_TileEnvelope(0, 0, 0) is the default bounds: passed so the margin can follow positionally.
    margin = func.ST_TileEnvelope(z, x, y, func.ST_TileEnvelope(0, 0, 0), BUFFER / EXTENT)
    tile = select(
        func.ST_TileEnvelope(z, x, y).label("env"),
        func.ST_Transform(func.ST_Translate(margin, -dx, -dy), STORAGE_SRID).label("query_env"),
    ).cte("tile")
    t = queries.table_of(layer)
    geometry = queries.geometry(t, layer)
    shifted = func.ST_Translate(func.ST_Transform(geometry, 3857), dx, dy)
    scope = [t.c.plan_id == bindparam("plan", type_=BigInteger)] if layer.plan_scoped else []
    features = (
        select(
            t.c.id,
            *queries.columns(t, layer.tile_attributes),
            func.ST_AsMVTGeom(shifted, tile.c.env, EXTENT, BUFFER, true()).label("geom"),
        )
        .select_from(t)
        .join(tile, true())
        .where(geometry.op("&&")(tile.c.query_env), *scope)
        .cte("features")
    )
    mvt = func.ST_AsMVT(features.table_valued(), literal(layer.name), EXTENT, literal("geom"), literal("id"))
    return select(mvt).where(features.c.geom.is_not(None))


TILE_LAYERS: dict[str, TileLayer] = {
    layer.name: TileLayer(layer, _statement(layer)) for layer in LAYERS.values() if layer.tiles is not None
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

    Grids come from `plan_id`, else the published plan; a plan that does not exist has no grids, so its tiles
    are empty (a map keeps asking for tiles of a plan just deleted).

    crs="gcj02" cuts the tile in the GCJ-02 grid of AMap/Tencent basemaps: features are moved by the GCJ-02
    shift at the tile's centre (it varies by well under a metre across a tile at street zooms)."""
    check_tile(z, x, y)
    shift = tile_shift(z, x, y, crs)
    if z < layer.min_zoom:
        return b""
    dx, dy = shift
    params: dict[str, object] = {"z": z, "x": x, "y": y, "dx": dx, "dy": dy}
    if layer.layer.plan_scoped:
        if plan_id is not None and plan_id not in queries.BIGINT:
            return b""  # no plan has such an id
        params["plan"] = plan_id if plan_id is not None else current_plan_id(session)
    return bytes(session.execute(layer.statement, params).scalar_one() or b"")


def tile_shift(z: int, x: int, y: int, crs: str) -> tuple[float, float]:
    """Web-Mercator metres by which features move into the tile grid of `crs` (also the basemap's tiles)."""
    if crs not in ("wgs84", "gcj02"):
        raise InvalidInput(f"crs={crs!r}: tiles come in wgs84 (default) or gcj02", where="crs")
    return _gcj02_shift(z, x, y) if crs == "gcj02" else (0.0, 0.0)


def _gcj02_shift(z: int, x: int, y: int) -> tuple[float, float]:
    """Web-Mercator metres from WGS 84 to GCJ-02 at the centre of tile z/x/y (zero outside China)."""
    half = 20037508.342789244
    size = 2 * half / 2**z
    cx, cy = -half + (x + 0.5) * size, half - (y + 0.5) * size
    lon, lat = _TO_LONLAT.transform(cx, cy)  # the centre as GCJ-02 lon/lat
    wx, wy = _TO_MERCATOR.transform(*gcj02_to_wgs84(lon, lat))
    return cx - wx, cy - wy
