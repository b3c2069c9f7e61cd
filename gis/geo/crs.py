"""Coordinate reference systems: the storage CRS, the metric CRS of a dataset, and axis checks.

Storage is WGS 84 (EPSG:4326). Metric work (areas, lengths, buffers) uses the CGCS2000 3-degree
Gauss-Krüger zone for the data's longitude inside China (EPSG:4534-4554, no zone number in the
easting) and UTM elsewhere.
"""

from __future__ import annotations

import numpy as np
from pyproj import CRS, Transformer

from gis.errors import FileRejected
from gis.registry import ascii_digits

# WGS 84, as gis.db.models.STORAGE_SRID (tests/unit/test_assign_files.py holds them equal): importing the ORM models
# for the number would load SQLAlchemy into light commands such as `gridmap assign`.
STORAGE_SRID = 4326
STORAGE_CRS = CRS.from_epsg(STORAGE_SRID)

# Generous envelope of mainland China, Hainan and Taiwan; used to pick the Gauss-Krüger family.
CHINA_BOUNDS = (73.4, 18.0, 135.1, 53.6)


def in_china(lon: float, lat: float) -> bool:
    west, south, east, north = CHINA_BOUNDS
    return west <= lon <= east and south <= lat <= north


def gauss_kruger_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree GK zone (central meridian 75°E…135°E) holding `lon`."""
    meridian = round(lon / 3.0) * 3
    meridian = min(max(meridian, 75), 135)
    return 4534 + (meridian - 75) // 3


def utm_epsg(lon: float, lat: float) -> int:
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def metric_epsg(lon: float, lat: float) -> int:
    """The projected CRS for metric work on data centred at (lon, lat)."""
    if in_china(lon, lat):
        return gauss_kruger_epsg(lon)
    return utm_epsg(lon, lat)


def metric_epsg_for_bounds(bounds: tuple[float, float, float, float]) -> int:
    west, south, east, north = bounds
    return metric_epsg((west + east) / 2.0, (south + north) / 2.0)


def parse_crs(text: str) -> CRS:
    """Parse a user-given CRS ("EPSG:4549", "4490", "CRS84"), with a clear error."""
    value = text.strip()
    if ascii_digits(value):
        value = f"EPSG:{value}"
    try:
        return CRS.from_user_input(value)
    except Exception as exc:  # pyproj raises CRSError with a terse message
        raise FileRejected(f"unknown coordinate reference system {text!r}: {exc}", where="crs") from exc


def check_lonlat(x: np.ndarray, y: np.ndarray, *, what: str) -> None:
    """Refuse WGS 84 coordinates that are out of range or only make sense with lon and lat swapped."""
    if x.size == 0:
        return
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size == 0:
        return
    lon_ok = (np.abs(x) <= 180.0).all()
    lat_ok = (np.abs(y) <= 90.0).all()
    if lon_ok and lat_ok:
        return
    if (np.abs(y) <= 180.0).all() and (np.abs(x) <= 90.0).all():
        raise FileRejected(
            f"{what}: coordinates only make sense with longitude and latitude swapped "
            f"(x spans {x.min():.4f}..{x.max():.4f}, y spans {y.min():.4f}..{y.max():.4f}); "
            "swap the columns or axes and try again",
            where="coordinates",
        )
    raise FileRejected(
        f"{what}: coordinates out of range for WGS 84 (x spans {x.min():.4f}..{x.max():.4f}, "
        f"y spans {y.min():.4f}..{y.max():.4f}); is the CRS right?",
        where="coordinates",
    )


def check_area_of_use(crs: CRS, x: np.ndarray, y: np.ndarray, *, what: str) -> None:
    """Refuse projected coordinates that land far outside the CRS's area of use (wrong CRS or swapped x/y)."""
    area = crs.area_of_use
    if crs.is_geographic or area is None or x.size == 0:
        return
    to_lonlat = Transformer.from_crs(crs, STORAGE_CRS, always_xy=True)
    margin = 5.0  # degrees: GK and UTM stay usable a little outside their zones

    def inside(xs: np.ndarray, ys: np.ndarray) -> bool:
        lon, lat = to_lonlat.transform(xs, ys)
        ok = np.isfinite(lon) & np.isfinite(lat)
        return bool(ok.all()) and bool(
            (
                (lon >= area.west - margin)
                & (lon <= area.east + margin)
                & (lat >= area.south - margin)
                & (lat <= area.north + margin)
            ).all()
        )

    sample = slice(None, None, max(1, x.size // 1000))
    xs, ys = x[sample], y[sample]
    if inside(xs, ys):
        return
    if inside(ys, xs):
        raise FileRejected(
            f"{what}: coordinates only make sense with x and y swapped for {crs.name}; "
            "swap the columns or axes and try again",
            where="coordinates",
        )
    raise FileRejected(
        f"{what}: coordinates fall outside the area of use of {crs.name} ({area.name}); is the CRS right?",
        where="coordinates",
    )
