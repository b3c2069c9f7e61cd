"""The WebMercatorQuad tile matrix set (OGC Two Dimensional Tile Matrix Set 2.0) that all tiles use."""

from __future__ import annotations

from typing import Any

from gis.errors import BadParameter, NotFound
from gis.registry import ascii_digits

WEB_MERCATOR_QUAD = "WebMercatorQuad"
MAX_ZOOM = 22
_HALF = 20037508.342789244  # half the equator in EPSG:3857 metres
_TILE = 256
_PIXEL_M = 0.00028  # the standardised rendering pixel (0.28 mm) behind scale denominators


def tile_matrix_set() -> dict[str, Any]:
    matrices = []
    for z in range(MAX_ZOOM + 1):
        cell = 2 * _HALF / _TILE / 2**z
        matrices.append(
            {
                "id": str(z),
                "scaleDenominator": cell / _PIXEL_M,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-_HALF, _HALF],
                "tileWidth": _TILE,
                "tileHeight": _TILE,
                "matrixWidth": 2**z,
                "matrixHeight": 2**z,
            }
        )
    return {
        "id": WEB_MERCATOR_QUAD,
        "title": "Google Maps Compatible for the World",
        "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": matrices,
    }


def check_matrix_set(tile_matrix_set_id: str) -> None:
    if tile_matrix_set_id != WEB_MERCATOR_QUAD:
        raise NotFound(
            f"tile matrix set {tile_matrix_set_id!r} is not offered; use {WEB_MERCATOR_QUAD}", where="tileMatrixSetId"
        )


def check_tile(tile_matrix: str, row: int, col: int) -> int:
    """The zoom level of a WebMercatorQuad tile address, or a clear error."""
    if not ascii_digits(tile_matrix) or int(tile_matrix) > MAX_ZOOM:
        raise BadParameter(f"tileMatrix {tile_matrix!r} is not a zoom level 0-{MAX_ZOOM}", where="tileMatrix")
    z = int(tile_matrix)
    if not (0 <= row < 2**z and 0 <= col < 2**z):
        raise NotFound(f"tile {z}/{row}/{col} is outside the matrix: rows and columns run 0-{2**z - 1}", where="tile")
    return z
