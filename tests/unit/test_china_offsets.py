"""GCJ-02 / BD-09 <-> WGS 84 (pure: no database)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from gis.geo.china_offsets import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    outside_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")

# Mainland cities (WGS 84) used for offsets and round trips.
CITIES = {
    "Beijing": (116.39, 39.91),
    "Shanghai": (121.47, 31.23),
    "Guangzhou": (113.26, 23.13),
    "Chengdu": (104.07, 30.67),
    "Urumqi": (87.62, 43.83),
    "Harbin": (126.63, 45.75),
    "Lhasa": (91.11, 29.65),
    "Kunming": (102.71, 25.04),
    "Ningbo": (121.55, 29.87),
    "Haikou": (110.33, 20.03),
    "Kashgar": (75.99, 39.47),
    "Mohe": (122.53, 52.97),
}


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def test_published_reference_pairs() -> None:
    # From the README/test of wandergis/coordtransform (the de-facto reference implementation), input (116.404, 39.915).
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-12)
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)
    # Its bd09togcj02 is the one-step closed form; ours refines it, so agree to its accuracy (~1e-6°, decimetres).
    assert bd09_to_gcj02(116.404, 39.915) == pytest.approx((116.39762729119315, 39.90865673957631), abs=1e-6)
    # Its gcj02towgs84 is a one-step approximation (metres off); ours is the exact inverse.
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert metres(lon, lat, 116.39775550083061, 39.91359571849836) < 2.0
    assert wgs84_to_gcj02(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)


def test_self_consistent_reference_points() -> None:
    # Values of the forward formula, pinned so a refactor cannot silently change them.
    assert wgs84_to_gcj02(116.397428, 39.90923) == pytest.approx((116.40367162595768, 39.91063350638631), abs=1e-12)
    assert wgs84_to_bd09(116.397428, 39.90923) == pytest.approx((116.41004410170474, 39.916972856075134), abs=1e-12)
    assert wgs84_to_gcj02(121.55, 29.87) == pytest.approx((121.55415800481597, 29.867417030772618), abs=1e-12)


@pytest.mark.parametrize("name", sorted(CITIES))
def test_offsets_are_100_to_700_m_in_china(name: str) -> None:
    lon, lat = CITIES[name]
    gx, gy = wgs84_to_gcj02(lon, lat)
    assert 100.0 < metres(lon, lat, gx, gy) < 700.0
    back = gcj02_to_wgs84(gx, gy)
    assert metres(lon, lat, *back) < 0.01


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(24.94, 60.17), (-74.006, 40.7128), (151.21, -33.87), (139.69, 35.69), (0.0, 0.0), (37.62, 55.75)],
)
def test_identity_outside_china(lon: float, lat: float) -> None:
    # Helsinki, New York, Sydney, Tokyo (east of the 137.8347° edge), Null Island, Moscow.
    assert outside_china(lon, lat)
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        assert fn(lon, lat) == (lon, lat)


def test_outside_test_is_the_documented_rectangle() -> None:
    assert outside_china(139.69, 35.69)  # Tokyo: east of 137.8347
    assert outside_china(-74.0, 40.7)
    assert not outside_china(121.55, 29.87)
    # Edges are exclusive, as in the common implementations; NaN counts as outside (identity keeps NaN).
    assert outside_china(72.004, 30.0) and outside_china(100.0, 55.8271)
    assert outside_china(np.nan, 30.0)
    lon, lat = wgs84_to_gcj02(np.array([np.nan]), np.array([30.0]))
    assert np.isnan(lon[0]) and lat[0] == 30.0


def test_scalars_give_floats_and_arrays_give_arrays() -> None:
    lon, lat = wgs84_to_gcj02(121.55, 29.87)
    assert type(lon) is float and type(lat) is float
    lon, lat = wgs84_to_bd09(np.array([[121.55, 24.94]]), np.array([[29.87, 60.17]]))
    assert isinstance(lon, np.ndarray) and lon.shape == (1, 2)
    assert lon[0, 1] == 24.94 and lat[0, 1] == 60.17  # Helsinki untouched in a mixed batch
    # Broadcasting a scalar against an array.
    lon, lat = gcj02_to_wgs84([121.5, 121.6], 29.87)
    assert lon.shape == lat.shape == (2,)


def test_bd09_gcj02_inverse_is_exact() -> None:
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(73.5, 135.0, 10_000), rng.uniform(18.2, 53.5, 10_000)
    bx, by = gcj02_to_bd09(lon, lat)
    gx, gy = bd09_to_gcj02(bx, by)
    assert np.abs(gx - lon).max() < 1e-9 and np.abs(gy - lat).max() < 1e-9


def test_round_trips_within_half_a_metre_over_mainland_china() -> None:
    rng = np.random.default_rng(2024)
    n = 20_000
    lon, lat = rng.uniform(73.5, 135.0, n), rng.uniform(18.2, 53.5, n)
    gcj_err = metres(lon, lat, *gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)))
    bd_err = metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat)))
    print(f"max round-trip error: GCJ-02 {gcj_err.max():.3e} m, BD-09 {bd_err.max():.3e} m")
    assert gcj_err.max() < 0.5
    assert bd_err.max() < 0.5


@settings(max_examples=300, deadline=None)
@given(lon=st.floats(73.5, 135.0), lat=st.floats(18.2, 53.5))
def test_round_trip_property(lon: float, lat: float) -> None:
    assert metres(lon, lat, *gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))) < 0.5
    assert metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))) < 0.5


def test_million_point_round_trip_speed() -> None:
    rng = np.random.default_rng(1)
    n = 1_000_000
    lon, lat = rng.uniform(73.5, 135.0, n), rng.uniform(18.2, 53.5, n)
    start = time.perf_counter()
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    gcj = time.perf_counter() - start
    start = time.perf_counter()
    back_bd = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    bd = time.perf_counter() - start
    print(f"1e6 points round trip: GCJ-02 {gcj:.2f} s, BD-09 {bd:.2f} s")  # reported, not asserted
    assert np.abs(back[0] - lon).max() < 1e-8 and np.abs(back_bd[1] - lat).max() < 1e-8
