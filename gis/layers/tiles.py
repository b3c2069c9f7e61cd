"""Mapbox vector tiles from PostGIS (ST_AsMVT) for the layers the catalog gives tiles (Layer.tiles), and the one
cache every tile route keeps them in.

Tiles are WebMercatorQuad (EPSG:3857) z/x/y. The query envelope is transformed to the storage CRS, never the
column, so the GiST indexes are used; only features inside the tile (plus a small buffer) are encoded. Each
layer's statements are assembled once, at import, from its catalog declaration; a request only binds values.

Below a layer's Tiles.detail_zoom a tile is an overview (buildings below z16): features smaller than
Tiles.min_area_px square pixels are left out, outlines are simplified to a quarter pixel, and features carry
only the attributes the pages' styles read there. A dense z13 tile of the 194,060-building synthetic city held
37,000 buildings (829 KiB) of which 3,100 cover half a pixel or more (70 KiB).

Tiles are cached by data version (`TileCache`): a write to a table tiles are made from adds one to its counter
in `tile_versions` when it commits (statement triggers, migration 0021); a request reads the counters of its
tiles' tables (one indexed read) and finds the tile made from that version, or makes and keeps it. The counters
are rows written in the writer's transaction, so a version is never visible before its data (also on a read
replica), and every server process, however many, serves a change from its next request on.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pyproj import Transformer
from sqlalchemy import BigInteger, Float, Integer, Select, bindparam, func, literal, select, text, true
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.geo.china_offsets import gcj02_to_wgs84
from gis.geo.crs import STORAGE_SRID
from gis.layers import queries
from gis.layers.catalog import LAYERS, Layer, Parent
from gis.plans.store import current_plan_id

EXTENT = 4096
BUFFER = 64
WORLD_M = 40075016.685578488  # the width of the Web-Mercator world
DEGREE_M = WORLD_M / 360  # Web-Mercator metres per degree of longitude (per degree of latitude: ÷ cos φ)
TILE_PX = 256  # the size maps draw a tile at (Leaflet's default): what "a pixel" means when thinning
SIMPLIFY_PX = 0.25  # overview outlines lose detail finer than this (of a pixel): nobody sees it
_TO_LONLAT = Transformer.from_crs(3857, 4326, always_xy=True)
_TO_MERCATOR = Transformer.from_crs(4326, 3857, always_xy=True)

# Tables whose writes change tiles and whose counter they bump (migration 0021): a publish changes which plan's
# grids the default grid tiles show, so grid_plans counts as grids.
VERSIONED_TABLES = {
    "buildings": "buildings",
    "communities": "communities",
    "facilities": "facilities",
    "grids": "grids",
    "grid_plans": "grids",
    "districts": "districts",
    "streets": "streets",
    "landcover": "landcover",
    "network_edges": "network_edges",
}
_SERIAL = text("SET LOCAL max_parallel_workers_per_gather = 0")
_DATA_VERSION = text("SELECT coalesce(sum(version), 0) FROM tile_versions WHERE source = ANY(:sources)")


@dataclass(frozen=True)
class Tile:
    data: bytes
    etag: str

    @classmethod
    def of(cls, data: bytes) -> Tile:
        # By content: after a change elsewhere in the layer, a tile made again the same still answers 304.
        return cls(data, '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')


@dataclass(frozen=True)
class TileLayer:
    layer: Layer
    detail: Select[Any]  # the whole tile
    overview: Select[Any] | None  # below Tiles.detail_zoom: thinned, simplified, lean
    sources: tuple[str, ...]  # the tile_versions counters whose changes change its tiles; () = never cached

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def min_zoom(self) -> int:
        return self.layer.tiles.min_zoom if self.layer.tiles else 0

    def is_overview(self, z: int) -> bool:
        detail_zoom = self.layer.tiles.detail_zoom if self.layer.tiles else None
        return self.overview is not None and detail_zoom is not None and z < detail_zoom


def _statement(layer: Layer, *, overview: bool) -> Select[Any]:
    """ST_AsMVT over the layer's rows in tile :z/:x/:y, shifted by (:dx, :dy) metres; grids of plan :plan.

    An overview keeps rows of at least :min_area square degrees (the pixel threshold at the tile's latitude:
    a planar area in the storage CRS is cheap, a transformed one is not) and simplifies them by :tolerance metres."""
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
    attributes = layer.tile_attributes
    if overview:
        attributes = layer.overview_tile_attributes
        shifted = func.ST_Simplify(shifted, bindparam("tolerance", type_=Float), true())
        if layer.kind == "polygon" and layer.tiles and layer.tiles.min_area_px > 0:
            scope.append(func.ST_Area(geometry) >= bindparam("min_area", type_=Float))
    features = (
        select(
            t.c.id,
            *queries.columns(t, attributes),
            func.ST_AsMVTGeom(shifted, tile.c.env, EXTENT, BUFFER, true()).label("geom"),
        )
        .select_from(t)
        .join(tile, true())
        .where(geometry.op("&&")(tile.c.query_env), *scope)
        .cte("features")
    )
    # ST_AsMVT skips rows whose geometry clipped away (NULL); a `geom IS NOT NULL` filter here would be pushed into
    # the scan and make PostgreSQL compute ST_AsMVTGeom twice per row.
    return select(func.ST_AsMVT(features.table_valued(), literal(layer.name), EXTENT, literal("geom"), literal("id")))


def _sources(layer: Layer) -> tuple[str, ...]:
    """The counters of the tables a layer's tiles read: its own and those of its attributes' parents."""
    if layer.tiles is None or not layer.tiles.cached:
        return ()
    tables = {layer.table} | {a.source.table for a in layer.tile_attributes if isinstance(a.source, Parent)}
    return tuple(sorted({VERSIONED_TABLES[table] for table in tables}))


def _tile_layer(layer: Layer) -> TileLayer:
    overview = layer.tiles is not None and layer.tiles.detail_zoom is not None
    return TileLayer(
        layer,
        _statement(layer, overview=False),
        _statement(layer, overview=True) if overview else None,
        _sources(layer),
    )


TILE_LAYERS: dict[str, TileLayer] = {
    layer.name: _tile_layer(layer) for layer in LAYERS.values() if layer.tiles is not None
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
    statement = layer.detail
    if layer.is_overview(z) and layer.overview is not None:
        statement = layer.overview
        params.update(_overview_params(layer.layer, z, y))
    # A tile is one short query among many: parallel workers cost more to start than they save and take the cores
    # of other requests (a dense z13 tile on 2 busy cores: 70-90 ms with two workers, 25-50 ms without).
    session.execute(_SERIAL)
    return bytes(session.execute(statement, params).scalar_one() or b"")


def _overview_params(layer: Layer, z: int, y: int) -> dict[str, float]:
    """The simplification tolerance (Web-Mercator metres) and the smallest area kept (square degrees) at zoom z.

    On the map an area of A square degrees covers A · DEGREE_M² / cos φ square metres of Web Mercator, and a pixel
    is (WORLD_M / 2^z / TILE_PX)² of them; φ is the latitude of the tile's centre (it varies by 0.05 % across a
    z13 tile)."""
    pixel_m = WORLD_M / 2**z / TILE_PX
    latitude = math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / 2**z)))
    min_area_px = layer.tiles.min_area_px if layer.tiles else 0.0
    return {"tolerance": SIMPLIFY_PX * pixel_m, "min_area": min_area_px * pixel_m**2 * math.cos(latitude) / DEGREE_M**2}


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


# -- the cache -----------------------------------------------------------------------------------------------


class TileCache:
    """Tiles by what they show and the data version they were made from: a least-recently-used store bounded
    in bytes, one per server process, shared by its threads. A tile of an older version is never asked for
    again and leaves as the least recently used."""

    ENTRY_BYTES = 200  # what a kept tile costs besides its bytes (key, ETag, links): empty tiles count too

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._tiles: OrderedDict[Hashable, Tile] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tiles)

    def get(self, key: Hashable) -> Tile | None:
        with self._lock:
            tile = self._tiles.get(key)
            if tile is None:
                self.misses += 1
                return None
            self._tiles.move_to_end(key)
            self.hits += 1
            return tile

    def put(self, key: Hashable, tile: Tile) -> None:
        cost = len(tile.data) + self.ENTRY_BYTES
        if cost > self.max_bytes:
            return
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self.size -= len(old.data) + self.ENTRY_BYTES
            self._tiles[key] = tile
            self.size += cost
            while self.size > self.max_bytes:
                _, evicted = self._tiles.popitem(last=False)
                self.size -= len(evicted.data) + self.ENTRY_BYTES


def data_version(session: Session, sources: Iterable[str]) -> int:
    """The version of the data behind `sources` (tile_versions counters): it grows with every write to them."""
    return int(session.execute(_DATA_VERSION, {"sources": list(sources)}).scalar_one())


def cached(
    session: Session,
    cache: TileCache | None,
    key: tuple[Hashable, ...],
    sources: tuple[str, ...],
    render: Callable[[], bytes],
) -> Tile:
    """The tile `key` from `cache` if it was made from the current version of `sources`, else made by `render`
    (in this session) and kept. No cache or no sources: made every time.

    The version is read before the tile is made: a write committed in between makes a newer tile that is kept
    under the older version (harmless: the next request reads the new version and makes it again), never an
    older tile under the newer version."""
    if cache is None or not sources:
        return Tile.of(render())
    versioned = (*key, data_version(session, sources))
    tile = cache.get(versioned)
    if tile is None:
        tile = Tile.of(render())
        cache.put(versioned, tile)
    return tile


def serve_tile(
    session: Session,
    cache: TileCache | None,
    layer: TileLayer,
    z: int,
    x: int,
    y: int,
    *,
    plan_id: int | None = None,
    crs: str = "wgs84",
) -> Tile:
    """`render_tile` through the cache (layers whose tiles depend on nothing but their tables' rows)."""
    check_tile(z, x, y)
    tile_shift(z, x, y, crs)  # checks crs before any reading
    if z < layer.min_zoom:
        return Tile.of(b"")
    render = partial(render_tile, session, layer, z, x, y, plan_id=plan_id, crs=crs)
    return cached(session, cache, (layer.name, z, x, y, plan_id, crs), layer.sources, render)
