"""The app's own basemap: one Mapbox vector tile with every layer the pages' light style draws.

Layers (EPSG:3857, extent 4096 like gis/layers/tiles.py, whose tile checks and GCJ-02 shift this reuses):

- `streets`: the walking network, edges of one name and kind merged within the tile so labels fit; `name`,
  `kind` (the OSM highway value) and `class` (major | minor | path), thinned by class at low zooms;
- `buildings`: footprints only, from z15 (no households or population: the basemap is public);
- `boundaries`: district, street (街道) and community outlines as lines with `level` and `name`;
- `places`: one label point per area (`level`, `name`) and per named water or green area (`level` = its kind);
- `water`, `green`: areas from `landcover` (an OSM import brings them), with `name`.

The statement is fixed, so it is written by hand (DESIGN.md §2): every layer's rows are found through its GiST
index with the query envelope transformed to the storage CRS, never the column; polygons are simplified to a
tile unit below z16; each layer is its own ST_AsMVT and the tile is their concatenation.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.layers.tiles import BUFFER, EXTENT, check_tile, tile_shift

WORLD_M = 40075016.685578488  # the width of the Web-Mercator world
MIN_ZOOM = 10
MAX_ZOOM = 19
LAYERS = ("water", "green", "boundaries", "streets", "buildings", "places")

# OSM highway values (and the demo's kinds) by class; anything else walkable is a path. The class sets the
# zoom from which a street is in the tile, and its width in the style (maps/static/gridmap/basemap_style.js).
MAJOR = ("motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link", "primary_link", "secondary_link")
MINOR = ("tertiary", "tertiary_link", "residential", "unclassified", "living_street", "pedestrian", "road", "service")
CLASS_MIN_ZOOM = {"major": MIN_ZOOM, "minor": 13, "path": 15}
BUILDINGS_MIN_ZOOM = 15
# Area label points: districts at city zooms, then streets (街道), then communities and named green/water.
PLACE_ZOOMS = {"district": (MIN_ZOOM, 12), "street": (12, 14), "community": (15, MAX_ZOOM)}
LANDCOVER_LABEL_ZOOM = 15
# The tile_versions counters of the tables read below: tiles are cached until one of them changes.
SOURCES = ("buildings", "communities", "districts", "landcover", "network_edges", "streets")

_STATEMENT = text("""
WITH tile AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS env,
           ST_Transform(ST_Translate(ST_TileEnvelope(:z, :x, :y, ST_TileEnvelope(0, 0, 0), :margin),
                                     -:dx, -:dy), 4326) AS q,
           CAST(:tol AS float8) AS tol
),
water AS (
    SELECT l.id, l.name,
           ST_AsMVTGeom(ST_Simplify(ST_Translate(ST_Transform(l.geom, 3857), :dx, :dy), t.tol, true),
                        t.env, :extent, :buffer, true) AS geom
    FROM landcover l JOIN tile t ON l.geom && t.q WHERE l.kind = 'water'
),
green AS (
    SELECT l.id, l.name,
           ST_AsMVTGeom(ST_Simplify(ST_Translate(ST_Transform(l.geom, 3857), :dx, :dy), t.tol, true),
                        t.env, :extent, :buffer, true) AS geom
    FROM landcover l JOIN tile t ON l.geom && t.q WHERE l.kind = 'green'
),
areas AS (
    SELECT 'district' AS level, name, boundary FROM districts, tile t WHERE boundary && t.q
    UNION ALL SELECT 'street', name, boundary FROM streets, tile t WHERE boundary && t.q
    UNION ALL SELECT 'community', name, boundary FROM communities, tile t WHERE boundary && t.q
),
boundaries AS (
    SELECT a.level, a.name,
           ST_AsMVTGeom(ST_Simplify(ST_Translate(ST_Transform(ST_Boundary(a.boundary), 3857), :dx, :dy), t.tol),
                        t.env, :extent, :buffer, true) AS geom
    FROM areas a, tile t
),
edges AS (
    SELECT e.name, e.kind,
           CASE WHEN e.kind = ANY(:major) THEN 'major' WHEN e.kind = ANY(:minor) THEN 'minor' ELSE 'path' END AS class,
           e.geom
    FROM network_edges e JOIN tile t ON e.geom && t.q
),
streets AS (
    -- the edges of one street meet at junctions: merged, a name has room for its label
    SELECT name, kind, class,
           ST_AsMVTGeom(ST_Translate(ST_Transform(ST_LineMerge(ST_Collect(geom)), 3857), :dx, :dy),
                        (SELECT env FROM tile), :extent, :buffer, true) AS geom
    FROM edges
    WHERE :z >= CASE class WHEN 'major' THEN :major_zoom WHEN 'minor' THEN :minor_zoom ELSE :path_zoom END
    GROUP BY name, kind, class
),
buildings AS (
    SELECT b.id, ST_AsMVTGeom(ST_Translate(ST_Transform(b.footprint, 3857), :dx, :dy), t.env, :extent, :buffer, true)
               AS geom
    FROM buildings b JOIN tile t ON b.footprint && t.q
    WHERE :z >= :buildings_zoom
),
places AS (
    SELECT level, name,
           ST_AsMVTGeom(ST_Translate(ST_Transform(ST_PointOnSurface(boundary), 3857), :dx, :dy),
                        (SELECT env FROM tile), :extent, 0, false) AS geom
    FROM areas
    WHERE (level = 'district' AND :z BETWEEN :district_from AND :district_to)
       OR (level = 'street' AND :z BETWEEN :street_from AND :street_to)
       OR (level = 'community' AND :z BETWEEN :community_from AND :community_to)
    UNION ALL
    SELECT l.kind, l.name,
           ST_AsMVTGeom(ST_Translate(ST_Transform(ST_PointOnSurface(l.geom), 3857), :dx, :dy),
                        t.env, :extent, 0, false)
    FROM landcover l JOIN tile t ON l.geom && t.q
    WHERE l.name IS NOT NULL AND :z >= :landcover_label_zoom
)
SELECT coalesce((SELECT ST_AsMVT(w, 'water', :extent, 'geom', 'id') FROM water w WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(g, 'green', :extent, 'geom', 'id') FROM green g WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(b, 'boundaries', :extent, 'geom') FROM boundaries b WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(s, 'streets', :extent, 'geom') FROM streets s WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(b, 'buildings', :extent, 'geom', 'id') FROM buildings b WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(p, 'places', :extent, 'geom') FROM places p WHERE geom IS NOT NULL), '')
""")


def render_basemap(session: Session, z: int, x: int, y: int, *, crs: str = "wgs84") -> bytes:
    """The basemap tile z/x/y as MVT bytes; empty outside z10–z19 or where nothing lies.

    crs="gcj02" cuts it in the GCJ-02 grid, so it lines up with the other tiles of a map drawn over an AMap or
    Tencent basemap (gis/layers/tiles.py render_tile)."""
    check_tile(z, x, y)
    dx, dy = tile_shift(z, x, y, crs)
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        return b""
    params: dict[str, object] = {
        "extent": EXTENT,
        "buffer": BUFFER,
        "margin": BUFFER / EXTENT,
        # one tile unit in metres: finer detail cannot be drawn; none from z16, where footprints are looked at
        "tol": WORLD_M / 2**z / EXTENT if z < 16 else 0.0,
        "z": z,
        "x": x,
        "y": y,
        "dx": dx,
        "dy": dy,
        "major": list(MAJOR),
        "minor": list(MINOR),
        "major_zoom": CLASS_MIN_ZOOM["major"],
        "minor_zoom": CLASS_MIN_ZOOM["minor"],
        "path_zoom": CLASS_MIN_ZOOM["path"],
        "buildings_zoom": BUILDINGS_MIN_ZOOM,
        "landcover_label_zoom": LANDCOVER_LABEL_ZOOM,
        **{f"{level}_from": zooms[0] for level, zooms in PLACE_ZOOMS.items()},
        **{f"{level}_to": zooms[1] for level, zooms in PLACE_ZOOMS.items()},
    }
    return bytes(session.execute(_STATEMENT, params).scalar_one() or b"")
