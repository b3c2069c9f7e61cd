"""User-given coordinates in any supported system -> WGS 84 (the storage CRS), with clear errors.

Systems (DOMAIN.md §6):

- ``wgs84``    GPS / OpenStreetMap lon/lat: identity.
- ``cgcs2000`` China's official geographic CRS (EPSG:4490). It agrees with WGS 84 within centimetres and PROJ
  has no transformation between them other than the null one, so it is treated as the identity.
- ``gcj02``    AMap/Gaode, Tencent, WeChat location ("Mars coordinates"): via gis.geo.china_offsets.
- ``bd09``     Baidu Maps: via gis.geo.china_offsets.
- ``EPSG:n``   (case-insensitive; plain digits too) any 2D geographic or projected CRS, via pyproj with
  always_xy=True: a geographic CRS takes lon in ``x`` and lat in ``y``, a projected one easting in ``x`` and
  northing in ``y`` (e.g. EPSG:4549, CGCS2000 Gauss-Krüger CM 120°E).

Validation raises gis.errors.InvalidInput: unknown system (listing the choices), non-finite values,
lon/lat out of range or looking swapped, and projected coordinates outside the CRS's area of use.
For the four named systems a point that lies in China only with lon and lat swapped is refused as swapped:
the platform governs Chinese cities, so that is far likelier a mistake than a point in the Arctic Ocean.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from pyproj import CRS, Transformer

from gis.errors import FileRejected, InvalidInput
from gis.geo import china_offsets
from gis.geo.crs import CHINA_BOUNDS, STORAGE_CRS, check_area_of_use, parse_crs

__all__ = ["SYSTEMS", "point_to_wgs84", "to_wgs84"]

SYSTEMS = ("wgs84", "cgcs2000", "gcj02", "bd09")  # plus "EPSG:n"

_LABELS = {
    "wgs84": "WGS 84",
    "cgcs2000": "CGCS2000",
    "gcj02": "GCJ-02 (AMap/Tencent/WeChat)",
    "bd09": "BD-09 (Baidu)",
}
_EPSG = re.compile(r"^(?:epsg\s*:\s*)?(\d+)$", re.IGNORECASE | re.ASCII)  # ASCII digits: "EPSG:٤٥٤٩" is no code
_CHOICES = ", ".join(SYSTEMS) + " or EPSG:<code> (e.g. EPSG:4549)"


def _unknown(system: object, where: str, reason: str = "") -> InvalidInput:
    extra = f" ({reason})" if reason else ""
    return InvalidInput(f"unknown coordinate system {system!r}{extra}; use one of {_CHOICES}", where=where)


def _resolve(system: str, where: str) -> str | int:
    """A named system ("gcj02", ...) or an EPSG code."""
    if not isinstance(system, str):
        raise _unknown(system, where)
    key = system.strip().lower()
    if key in SYSTEMS:
        return key
    match = _EPSG.match(key)
    if match is None:
        raise _unknown(system, where)
    return int(match.group(1))


@lru_cache(maxsize=64)
def _epsg_crs(code: int) -> CRS:
    return parse_crs(f"EPSG:{code}")


@lru_cache(maxsize=64)
def _transformer(code: int) -> Transformer:
    return Transformer.from_crs(_epsg_crs(code), STORAGE_CRS, always_xy=True)


def _describe(x: np.ndarray, y: np.ndarray) -> str:
    if x.size == 1:
        return f"x={x.item():.6f}, y={y.item():.6f}"
    return f"x spans {x.min():.4f}..{x.max():.4f}, y spans {y.min():.4f}..{y.max():.4f}"


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    # Vectorised gis.geo.crs.in_china (same CHINA_BOUNDS).
    west, south, east, north = CHINA_BOUNDS
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _all_in_china(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether every point lies in China's box, from four reductions (NaN and infinities fail it): the usual case,
    where no point can be out of range or have its longitude and latitude swapped (no swapped point is in China)."""
    if x.size == 0:
        return True
    west, south, east, north = CHINA_BOUNDS
    return bool(west <= x.min() and x.max() <= east and south <= y.min() and y.max() <= north)


def _check_geographic(x: np.ndarray, y: np.ndarray, *, what: str, china: bool, where: str) -> None:
    """Refuse lon/lat out of range or swapped (wording follows gis.geo.crs.check_lonlat, but for user input)."""
    lon_ok = np.abs(x) <= 180.0
    lat_ok = np.abs(y) <= 90.0
    bad = ~(lon_ok & lat_ok)
    if bad.any():
        bx, by = x[bad], y[bad]
        if ((np.abs(by) <= 180.0) & (np.abs(bx) <= 90.0)).all():
            raise InvalidInput(
                f"{what}: longitude and latitude look swapped ({_describe(bx, by)}); they only make sense "
                "the other way round: swap them and try again",
                where=where,
            )
        raise InvalidInput(
            f"{what}: coordinates out of range (longitude must be within ±180°, latitude within ±90°; "
            f"got {_describe(bx, by)}); is the coordinate system right?",
            where=where,
        )
    if china:
        swapped = ~_in_china(x, y) & _in_china(y, x)
        if swapped.any():
            raise InvalidInput(
                f"{what}: longitude and latitude look swapped ({_describe(x[swapped], y[swapped])} lies in China "
                "only with the two exchanged): swap them and try again",
                where=where,
            )


def _check_finite(x: np.ndarray, y: np.ndarray, *, what: str, where: str) -> None:
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        count = int((~finite).sum())
        raise InvalidInput(f"{what}: {count} coordinate(s) are not finite numbers (NaN or infinity)", where=where)


def _arrays(x: ArrayLike, y: ArrayLike, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        xs = np.asarray(x, dtype=np.float64)
        ys = np.asarray(y, dtype=np.float64)
        xs, ys = np.broadcast_arrays(xs, ys)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"coordinates must be numbers of matching shape: {exc}", where=where) from exc
    return np.array(xs), np.array(ys)  # writable copies: broadcast views are read-only


def to_wgs84(
    x: ArrayLike, y: ArrayLike, system: str = "wgs84", *, where: str = "coordinates"
) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates given in `system` to WGS 84 (lon, lat) arrays of the broadcast shape of x and y."""
    key = _resolve(system, where)
    xs, ys = _arrays(x, y, where)
    if isinstance(key, str):
        what = f"{_LABELS[key]} coordinates"
        if not _all_in_china(xs, ys):  # else finite, in range and not swapped, all at once
            _check_finite(xs, ys, what=what, where=where)
            _check_geographic(xs, ys, what=what, china=True, where=where)
        if key == "gcj02":
            lon, lat = china_offsets.gcj02_to_wgs84(xs, ys)
        elif key == "bd09":
            lon, lat = china_offsets.bd09_to_wgs84(xs, ys)
        else:
            lon, lat = xs, ys  # wgs84, cgcs2000: identity (see module docstring)
        # china_offsets hands back floats for 0-d input; keep the array contract.
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    try:
        crs = _epsg_crs(key)
    except FileRejected as exc:
        raise _unknown(system, where, exc.detail) from exc
    what = f"EPSG:{key} ({crs.name}) coordinates"
    if not (crs.is_geographic or crs.is_projected):
        raise InvalidInput(f"{what}: not a 2D geographic or projected coordinate system", where=where)
    _check_finite(xs, ys, what=what, where=where)
    if crs.is_geographic:
        # Range checks only make sense in degrees (a few legacy CRSs use grads).
        if crs.axis_info and crs.axis_info[0].unit_name == "degree":
            _check_geographic(xs, ys, what=what, china=False, where=where)
    else:
        try:
            check_area_of_use(crs, xs.ravel(), ys.ravel(), what=what)
        except FileRejected as exc:  # a single point is not a rejected file: re-raise as plain invalid input
            raise InvalidInput(exc.detail, where=where) from exc
    lon, lat = _transformer(key).transform(xs, ys)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    if not (np.isfinite(lon) & np.isfinite(lat)).all():
        raise InvalidInput(f"{what}: some coordinates cannot be transformed to WGS 84", where=where)
    return lon, lat


def point_to_wgs84(x: float, y: float, system: str = "wgs84", *, where: str = "lon/lat") -> tuple[float, float]:
    """Convert one point given in `system` to WGS 84 (lon, lat) floats."""
    if np.ndim(x) != 0 or np.ndim(y) != 0:
        raise InvalidInput("a point needs one x and one y number", where=where)
    west, south, east, north = CHINA_BOUNDS
    if system == "wgs84" and west <= x <= east and south <= y <= north:
        return float(x), float(y)  # the usual point: nothing to convert or refuse (the locate hot path)
    lon, lat = to_wgs84(x, y, system, where=where)
    return float(lon), float(lat)
