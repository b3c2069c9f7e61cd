"""Coordinate reference systems of OGC API – Features Part 2 (`crs`, `bbox-crs`): URIs, axis order, SQL.

Storage is WGS 84 lon/lat (CRS84). EPSG:4326 and EPSG:4490 (CGCS2000) are served in their authority axis
order, latitude first, as Part 2 requires; CRS84 and EPSG:3857 are x/y.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql.expression import ColumnElement

from gis.errors import BadParameter
from gis.geo.crs import STORAGE_SRID


@dataclass(frozen=True)
class OgcCrs:
    uri: str
    srid: int
    lat_first: bool  # authority axis order is latitude, longitude
    decimals: int  # coordinate precision in output: ~1 cm


CRS84 = OgcCrs("http://www.opengis.net/def/crs/OGC/1.3/CRS84", STORAGE_SRID, False, 7)
SUPPORTED: tuple[OgcCrs, ...] = (
    CRS84,
    OgcCrs("http://www.opengis.net/def/crs/EPSG/0/4326", 4326, True, 7),
    OgcCrs("http://www.opengis.net/def/crs/EPSG/0/4490", 4490, True, 7),
    OgcCrs("http://www.opengis.net/def/crs/EPSG/0/3857", 3857, False, 2),
)
_BY_NAME: dict[str, OgcCrs] = {}
for _crs in SUPPORTED:
    _code = _crs.uri.rsplit("/", 1)[1]
    _authority = "OGC" if _code == "CRS84" else "EPSG"
    for _name in (_crs.uri, f"{_authority}:{_code}", f"[{_authority}:{_code}]"):
        _BY_NAME[_name.lower()] = _crs
_BY_NAME["http://www.opengis.net/def/crs/ogc/0/crs84"] = CRS84  # a common misspelling of the version


def parse_crs(value: str | None, *, where: str) -> OgcCrs:
    """The CRS named by a `crs`/`bbox-crs` parameter (a URI, or a CURIE like EPSG:4490); CRS84 if absent."""
    if value is None:
        return CRS84
    crs = _BY_NAME.get(value.strip().lower())
    if crs is None:
        accepted = ", ".join(c.uri for c in SUPPORTED)
        raise BadParameter(
            f"{where}: {value!r} is not a supported coordinate reference system; use {accepted}", where=where
        )
    return crs


def geojson_in(geometry: ColumnElement[Any], crs: OgcCrs) -> ColumnElement[str]:
    """A stored (EPSG:4326) geometry as GeoJSON text in `crs`, in its axis order."""
    if crs.srid != STORAGE_SRID:
        geometry = func.ST_Transform(geometry, crs.srid)
    if crs.lat_first:
        geometry = func.ST_FlipCoordinates(geometry)
    return func.ST_AsGeoJSON(geometry, crs.decimals)


@dataclass(frozen=True)
class Envelope:
    """A bbox as given, in its CRS and axis order; `polygon()` is the storage-CRS polygon to intersect with."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    crs: OgcCrs

    def polygon(self) -> ColumnElement[Any]:
        x0, y0, x1, y1 = self.minx, self.miny, self.maxx, self.maxy
        if self.crs.lat_first:
            x0, y0, x1, y1 = y0, x0, y1, x1
        envelope = func.ST_MakeEnvelope(x0, y0, x1, y1, self.crs.srid)
        if self.crs.srid != STORAGE_SRID:
            # Densified first so the transformed box keeps its curved edges (3857 → 4326).
            step = max(x1 - x0, y1 - y0, 1e-9) / 16.0
            envelope = func.ST_Transform(func.ST_Segmentize(envelope, step), STORAGE_SRID)
        return envelope


def parse_bbox(value: str, crs: OgcCrs) -> Envelope:
    """`bbox` of OGC API – Features: 4 numbers (or 6 with heights, which are ignored) in `crs` axis order."""
    try:
        numbers = [float(p) for p in value.split(",")]
    except ValueError:
        raise BadParameter(f"bbox: {value!r} is not a list of numbers", where="bbox") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise BadParameter(f"bbox: expected 4 (or 6) numbers, got {len(numbers)}", where="bbox")
    if any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
        raise BadParameter(f"bbox: {value!r} has a number that is not finite", where="bbox")
    minx, miny, maxx, maxy = numbers
    envelope = Envelope(minx, miny, maxx, maxy, crs)
    if crs.srid != 3857:
        lon = (envelope.miny, envelope.maxy) if crs.lat_first else (envelope.minx, envelope.maxx)
        lat = (envelope.minx, envelope.maxx) if crs.lat_first else (envelope.miny, envelope.maxy)
        if not all(-180 <= v <= 180 for v in lon) or not all(-90 <= v <= 90 for v in lat):
            order = "latitude,longitude" if crs.lat_first else "longitude,latitude"
            raise BadParameter(f"bbox: {value} is out of range for {crs.uri} (axis order {order})", where="bbox")
    if envelope.maxy < envelope.miny:
        raise BadParameter(f"bbox: {value} has its upper corner below its lower corner", where="bbox")
    if envelope.maxx < envelope.minx:
        # Crossing the antimeridian never happens in a Chinese city: say so rather than return nothing.
        raise BadParameter(f"bbox: {value} crosses the antimeridian or has its corners swapped", where="bbox")
    return envelope
