"""gis/batch.py: one function over many parts, the same answer in process, on a LocalCluster of two worker
processes and on a real scheduler with two worker processes."""

from __future__ import annotations

import operator

import pytest

from gis import batch


def test_parts_come_back_in_order_wherever_they_ran(batch_place: str) -> None:
    parts = list(range(40))
    assert batch.map_parts(operator.mul, parts, 3, where=batch_place) == [3 * p for p in parts]


def test_a_large_shared_argument_reaches_every_part(batch_place: str) -> None:
    table = list(range(5_000))  # scattered once to the workers, not sent with every part
    assert batch.map_parts(operator.contains, [table, table[:10]], 4_999, where=batch_place) == [True, False]


def test_a_failing_part_raises_its_own_error(batch_place: str) -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        batch.map_parts(int, ["1", "two", "3"], where=batch_place)


def test_the_place_comes_from_the_argument_then_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert batch.resolve("inline") == "inline"
    assert batch.resolve("local:1") == "inline"  # one worker process is no cluster: the job runs here
    assert batch.resolve("local:3") == "local:3"
    assert batch.resolve("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    monkeypatch.setenv("GRIDMAP_DASK_SCHEDULER", "tcp://10.0.0.9:8786")
    batch.get_settings.cache_clear()
    try:
        assert batch.resolve(None) == "tcp://10.0.0.9:8786"
    finally:
        monkeypatch.delenv("GRIDMAP_DASK_SCHEDULER")
        batch.get_settings.cache_clear()
    monkeypatch.setenv("GRIDMAP_BATCH_WORKERS", "1")
    batch.get_settings.cache_clear()
    try:
        assert batch.resolve(None) == "inline"
    finally:
        monkeypatch.delenv("GRIDMAP_BATCH_WORKERS")
        batch.get_settings.cache_clear()
