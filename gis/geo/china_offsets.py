"""GCJ-02 ("Mars coordinates") and BD-09 (Baidu) <-> WGS 84, vectorised on numpy arrays.

Neither system is in EPSG. GCJ-02 (AMap/Gaode, Tencent, WeChat location) is WGS 84 shifted by a
published polynomial obfuscation on the Krasovsky ellipsoid; BD-09 (Baidu Maps) is GCJ-02 put through
a further small rotation/scale plus a constant shift. Only the forward directions are published in closed
form, so the inverses here are computed by fixed-point iteration of the forward formula until its image
matches the input within 1e-9° (about 0.1 mm), which makes them exact for all practical purposes.

"Outside China" test: the rectangle lon 72.004–137.8347, lat 0.8293–55.8271 used by the common open
implementations (coordtransform, eviltransform, ...). It is deliberately looser than gis.geo.crs.CHINA_BOUNDS
so that our GCJ-02 values agree with what other software produces for the same input. Outside it every
transform is the identity (as GCJ-02 equals WGS 84 abroad). Forward and inverse both test *their input*
against the same rectangle; within ~1 km of its edges (open sea / remote border areas) a point can be
shifted across the edge, which every implementation shares.

Every function takes scalars or array-likes (broadcast against each other) and returns a
(lon, lat) pair of numpy arrays, or of floats when both inputs are scalars. NaN stays NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "OFFSET_BOUNDS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "outside_china",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# Constants of the published GCJ-02 algorithm: Krasovsky 1940 semi-major axis and eccentricity squared.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# (west, south, east, north) of the rectangle where the offsets apply; see module docstring.
OFFSET_BOUNDS = (72.004, 0.8293, 137.8347, 55.8271)

_TOLERANCE = 1e-9  # degrees; the iterative inverses stop once the forward image is this close
_MAX_ITERATIONS = 10  # each fixed-point step gains ~3 digits, so 4-5 suffice; 10 is a safe cap

Coords = tuple[np.ndarray, np.ndarray] | tuple[float, float]


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    scalar = x.ndim == 0 and y.ndim == 0
    x, y = np.broadcast_arrays(x, y)
    return x, y, scalar


def _result(x: np.ndarray, y: np.ndarray, scalar: bool) -> Coords:
    if scalar:
        return float(x), float(y)
    return x, y


def outside_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """Boolean mask of points where GCJ-02/BD-09 equal WGS 84 (outside the offset rectangle; NaN counts as outside)."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    west, south, east, north = OFFSET_BOUNDS
    with np.errstate(invalid="ignore"):
        inside = (x > west) & (x < east) & (y > south) & (y < north)
    return ~inside


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pi = math.pi
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pi = math.pi
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 shift (dlon, dlat) in degrees at WGS 84 (lon, lat), ignoring the outside-China test."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * math.pi)
    return dlon, dlat


def _wgs_to_gcj(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_offset(x, y)
    keep = outside_china(x, y)
    return np.where(keep, x, x + dlon), np.where(keep, y, y + dlat)


def _gcj_to_wgs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = outside_china(x, y)
    # Fixed point of w = g - offset(w): the offset varies slowly (its Jacobian is ~1e-3), so each step
    # shrinks the error ~1000-fold. Iterate without the outside test so points near the edge converge too.
    wx, wy = x.copy(), y.copy()
    for _ in range(_MAX_ITERATIONS):
        dlon, dlat = _gcj_offset(wx, wy)
        ex = wx + dlon - x
        ey = wy + dlat - y
        wx = wx - ex
        wy = wy - ey
        with np.errstate(invalid="ignore"):
            err = np.maximum(np.abs(ex), np.abs(ey))
        if not (err[~keep] > _TOLERANCE).any():
            break
    return np.where(keep, x, wx), np.where(keep, y, wy)


def _gcj_to_bd(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    bx, by = z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006
    keep = outside_china(x, y)
    return np.where(keep, x, bx), np.where(keep, y, by)


def _bd_to_gcj(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = outside_china(x, y)
    # Start from the published closed-form inverse (off by up to ~1e-6°, i.e. decimetres), then polish
    # by fixed-point iteration so that gcj02_to_bd09(bd09_to_gcj02(p)) == p within 1e-9°.
    u, v = x - 0.0065, y - 0.006
    z = np.sqrt(u * u + v * v) - 0.00002 * np.sin(v * _X_PI)
    theta = np.arctan2(v, u) - 0.000003 * np.cos(u * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_MAX_ITERATIONS):
        z = np.sqrt(gx * gx + gy * gy) + 0.00002 * np.sin(gy * _X_PI)
        theta = np.arctan2(gy, gx) + 0.000003 * np.cos(gx * _X_PI)
        ex = z * np.cos(theta) + 0.0065 - x
        ey = z * np.sin(theta) + 0.006 - y
        gx, gy = gx - ex, gy - ey
        with np.errstate(invalid="ignore"):
            err = np.maximum(np.abs(ex), np.abs(ey))
        if not (err[~keep] > _TOLERANCE).any():
            break
    return np.where(keep, x, gx), np.where(keep, y, gy)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """WGS 84 -> GCJ-02 (published closed-form formula)."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_wgs_to_gcj(x, y), scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """GCJ-02 -> WGS 84 (iterative inverse, residual < 1e-9°)."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_wgs(x, y), scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """GCJ-02 -> BD-09 (published closed-form formula)."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_bd(x, y), scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """BD-09 -> GCJ-02 (published inverse refined iteratively, residual < 1e-9°)."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_bd_to_gcj(x, y), scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """WGS 84 -> BD-09 (via GCJ-02)."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """BD-09 -> WGS 84 (via GCJ-02)."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_wgs(*_bd_to_gcj(x, y)), scalar)
