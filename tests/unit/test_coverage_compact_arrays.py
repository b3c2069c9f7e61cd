"""The compact coverage arrays (gis/coverage/reach_store.py) without a database: PostgreSQL's binary array format
written from numpy and read back, the millimetre sentinels, and the threshold arithmetic of the figures."""

from __future__ import annotations

import numpy as np

from gis.coverage import figures, reach_store


def test_arrays_round_trip_through_the_binary_format() -> None:
    # COPY's binary array is the format array_send gives: what a run writes is what the figures read.
    for values in (
        np.array([3, -1, 2_000_000_000], dtype=np.int32),
        np.array([1, 2**40], dtype=np.int64),
        np.array([0.5, np.nan, 1e9]),
        np.array([], dtype=np.int64),
    ):
        back = reach_store.from_array_send(reach_store._array(values), values.dtype.type)
        assert back.dtype == values.dtype
        np.testing.assert_array_equal(back, values)


def test_distances_become_millimetres_with_their_sentinels() -> None:
    metres = np.array([1234.5674, 0.0, np.inf, np.inf])
    on_network = np.array([True, True, True, False])
    mm = reach_store.distance_mm(metres, on_network)
    assert mm.tolist() == [1_234_567, 0, reach_store.NOT_REACHED, reach_store.NOT_ON_NETWORK]


def test_a_threshold_in_millimetres_compares_as_the_stored_metres_did() -> None:
    for metres in (360.0, 5 * 60.0 * 1.2, 1080.3, 0.0015, 15 * 60 * 1.33):
        limit = figures.within_mm(metres)
        assert limit / 1000 <= metres < (limit + 1) / 1000
