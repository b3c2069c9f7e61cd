"""User coordinates in any supported system -> WGS 84 (pure: no database)."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod, Transformer

from gis.errors import FileRejected, InvalidInput
from gis.geo.china_offsets import wgs84_to_bd09, wgs84_to_gcj02
from gis.geo.coordinates import SYSTEMS, point_to_wgs84, to_wgs84

GEOD = Geod(ellps="WGS84")
NINGBO = (121.55, 29.87)


def metres(lon1, lat1, lon2, lat2) -> float:
    return float(np.max(GEOD.inv(lon1, lat1, lon2, lat2)[2]))


@pytest.mark.parametrize("system", ["wgs84", "cgcs2000", "WGS84", " CGCS2000 ", "EPSG:4326", "epsg:4490", "4490"])
def test_wgs84_like_systems_keep_the_point(system: str) -> None:
    lon, lat = point_to_wgs84(*NINGBO, system)
    assert (lon, lat) == pytest.approx(NINGBO, abs=1e-9)


def test_cgcs2000_identity_matches_pyproj() -> None:
    ours = point_to_wgs84(*NINGBO, "cgcs2000")
    theirs = Transformer.from_crs(4490, 4326, always_xy=True).transform(*NINGBO)
    assert ours == pytest.approx(theirs, abs=1e-9)


@pytest.mark.parametrize(("system", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_chinese_offsets_land_on_the_wgs84_point(system: str, forward) -> None:
    x, y = forward(*NINGBO)
    assert metres(*NINGBO, x, y) > 100.0  # unconverted, the point would land in the wrong grid
    lon, lat = point_to_wgs84(x, y, system)
    assert metres(*NINGBO, lon, lat) < 0.5


@pytest.mark.parametrize("system", ["EPSG:4549", "epsg:4550", "4549", "EPSG:32651"])
def test_projected_epsg_takes_easting_northing(system: str) -> None:
    code = int(system.split(":")[-1])
    east, north = Transformer.from_crs(4326, code, always_xy=True).transform(*NINGBO)
    lon, lat = point_to_wgs84(east, north, system)
    assert (lon, lat) == pytest.approx(NINGBO, abs=1e-7)


def test_arrays_are_vectorised_and_keep_their_shape() -> None:
    lons = np.array([[121.55, 121.56], [116.39, 24.94]])
    lats = np.array([[29.87, 29.88], [39.91, 60.17]])
    gx, gy = wgs84_to_gcj02(lons, lats)
    lon, lat = to_wgs84(gx, gy, "gcj02")
    assert lon.shape == (2, 2)
    assert np.abs(lon - lons).max() < 1e-8 and np.abs(lat - lats).max() < 1e-8
    east, north = Transformer.from_crs(4326, 4549, always_xy=True).transform([120.1, 120.2], [30.2, 30.3])
    lon, lat = to_wgs84(east, north, "EPSG:4549")
    assert lon == pytest.approx([120.1, 120.2], abs=1e-7) and lat == pytest.approx([30.2, 30.3], abs=1e-7)
    lon, lat = to_wgs84(121.55, 29.87, "bd09")  # scalars still give arrays
    assert isinstance(lon, np.ndarray) and lon.shape == ()


@pytest.mark.parametrize("system", [*SYSTEMS, "EPSG:4326"])
def test_swapped_lonlat_out_of_range_is_called_swapped(system: str) -> None:
    with pytest.raises(InvalidInput, match="swapped") as err:
        point_to_wgs84(29.87, 121.55, system, where="incident.location")
    assert err.value.where == "incident.location"
    assert not isinstance(err.value, FileRejected)


@pytest.mark.parametrize("system", SYSTEMS)
def test_point_in_china_only_when_swapped_is_called_swapped(system: str) -> None:
    # (40.0, 80.0) is valid lon/lat (Arctic Ocean) but (80.0, 40.0) is in Xinjiang: a swap.
    with pytest.raises(InvalidInput, match="longitude and latitude look swapped"):
        point_to_wgs84(40.0, 80.0, system)


def test_arctic_point_is_fine_in_a_plain_epsg_geographic_crs() -> None:
    assert point_to_wgs84(40.0, 80.0, "EPSG:4326") == pytest.approx((40.0, 80.0))


@pytest.mark.parametrize(("x", "y"), [(200.0, 30.0), (121.0, -95.0), (500.0, 500.0)])
def test_out_of_range_is_refused(x: float, y: float) -> None:
    with pytest.raises(InvalidInput, match="out of range"):
        point_to_wgs84(x, y, "gcj02")


@pytest.mark.parametrize(("x", "y"), [(np.nan, 30.0), (121.0, np.inf)])
def test_non_finite_is_refused(x: float, y: float) -> None:
    with pytest.raises(InvalidInput, match="not finite"):
        point_to_wgs84(x, y, "wgs84")
    with pytest.raises(InvalidInput, match="not finite"):
        to_wgs84([121.0, x], [29.0, y], "EPSG:4549")


@pytest.mark.parametrize("system", ["gcj-03", "baidu", "EPSG:", "EPSG:999999", "", "CRS84"])
def test_unknown_system_lists_the_choices(system: str) -> None:
    with pytest.raises(InvalidInput, match="unknown coordinate system") as err:
        point_to_wgs84(*NINGBO, system, where="system")
    for choice in (*SYSTEMS, "EPSG:"):
        assert choice in err.value.detail
    assert err.value.where == "system"


def test_projected_coordinates_outside_area_of_use_are_refused() -> None:
    east, north = Transformer.from_crs(4326, 4549, always_xy=True).transform(*NINGBO)
    # Northing and easting swapped.
    with pytest.raises(InvalidInput, match="swapped") as err:
        point_to_wgs84(north, east, "EPSG:4549")
    assert not isinstance(err.value, FileRejected)
    # Lon/lat typed into a projected system.
    with pytest.raises(InvalidInput, match="area of use"):
        point_to_wgs84(*NINGBO, "EPSG:4549")


def test_non_2d_crs_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a 2D geographic or projected"):
        point_to_wgs84(1.0, 2.0, "EPSG:4978")  # WGS 84 geocentric


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="matching shape"):
        to_wgs84([1.0, 2.0, 3.0], [1.0, 2.0], "wgs84")
    with pytest.raises(InvalidInput, match="one x and one y"):
        point_to_wgs84([1.0, 2.0], [3.0, 4.0])  # type: ignore[arg-type]
