"""The metric CRS choice and the axis checks (pure: no database)."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import CRS

from gis.errors import FileRejected
from gis.geo.crs import (
    check_area_of_use,
    check_lonlat,
    gauss_kruger_epsg,
    metric_epsg,
    parse_crs,
)


@pytest.mark.parametrize(
    ("lon", "epsg", "meridian"),
    [(121.55, 4550, 123), (120.0, 4549, 120), (116.4, 4548, 117), (75.2, 4534, 75), (134.9, 4554, 135)],
)
def test_gauss_kruger_zone_follows_longitude(lon: float, epsg: int, meridian: int) -> None:
    assert gauss_kruger_epsg(lon) == epsg
    assert f"{meridian}E" in CRS.from_epsg(epsg).name.replace(" ", "")


def test_metric_crs_is_cgcs2000_in_china_and_utm_elsewhere() -> None:
    assert CRS.from_epsg(metric_epsg(121.55, 29.87)).name == "CGCS2000 / 3-degree Gauss-Kruger CM 123E"
    assert metric_epsg(24.94, 60.17) == 32635  # Helsinki: UTM 35N
    assert metric_epsg(-70.6, -33.4) == 32719  # Santiago: UTM 19S


def test_swapped_lonlat_is_refused_with_the_reason() -> None:
    with pytest.raises(FileRejected, match="swapped"):
        check_lonlat(np.array([29.87, 29.88]), np.array([121.55, 121.56]), what="layer")


def test_out_of_range_lonlat_is_refused() -> None:
    with pytest.raises(FileRejected, match="out of range"):
        check_lonlat(np.array([500.0]), np.array([29.0]), what="layer")


def test_valid_lonlat_passes() -> None:
    check_lonlat(np.array([121.55, -179.9]), np.array([29.87, -89.0]), what="layer")


def test_projected_coordinates_swapped_are_refused() -> None:
    gk120 = CRS.from_epsg(4549)
    x, y = np.array([552_000.0]), np.array([3_305_000.0])  # Ningbo in the 120°E zone
    check_area_of_use(gk120, x, y, what="layer")
    with pytest.raises(FileRejected, match="swapped"):
        check_area_of_use(gk120, y, x, what="layer")


def test_unknown_crs_names_the_input() -> None:
    with pytest.raises(FileRejected, match="EPSG:999999"):
        parse_crs("EPSG:999999")
    assert parse_crs("4490").to_epsg() == 4490
