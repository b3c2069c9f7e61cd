"""Evening out grid workloads with GerryChain flips: loads more even, household band, contiguity and compounds kept."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from gis.plans.balance import balance_units
from gis.plans.workload import even_out_load, unit_loads

pytestmark = pytest.mark.unit


def lattice(nx: int, ny: int) -> np.ndarray:
    def index(i: int, j: int) -> int:
        return i * ny + j

    pairs = [(index(i, j), index(i + 1, j)) for i in range(nx - 1) for j in range(ny)]
    pairs += [(index(i, j), index(i, j + 1)) for i in range(nx) for j in range(ny - 1)]
    return np.array(pairs)


def contiguous(parts: np.ndarray, pairs: np.ndarray) -> bool:
    for part in np.unique(parts):
        members = np.flatnonzero(parts == part)
        inside = pairs[np.isin(pairs, members).all(axis=1)]
        position = {m: k for k, m in enumerate(members)}
        rows = [position[a] for a in inside[:, 0]]
        cols = [position[b] for b in inside[:, 1]]
        graph = coo_array((np.ones(len(rows)), (rows, cols)), shape=(len(members), len(members)))
        if connected_components(graph, directed=False)[0] != 1:
            return False
    return True


def test_loads_become_more_even_within_the_band() -> None:
    rng = np.random.default_rng(1)
    pairs = lattice(12, 12)
    households = rng.integers(5, 25, 144)
    incidents = rng.poisson(np.where(np.arange(144) < 40, 6, 1))  # one corner of the community is busy
    patrol = rng.uniform(50, 200, 144)
    compounds = [("A" if i in (60, 61, 72, 73) else None) for i in range(144)]
    start = balance_units(households, pairs, min_households=300, max_households=500, compounds=compounds)
    assert start.satisfied
    parts = int(start.parts.max()) + 1
    load = unit_loads(
        {"households": households, "incidents": incidents, "patrol_m": patrol},
        {"households": 1, "incidents": 1, "patrol_m": 1},
        parts,
    )
    assert load.sum() == pytest.approx(3 * parts)  # each part averages 1 per grid

    result = even_out_load(start.parts, households, load, pairs, band=(300, 500), compounds=compounds, seed=0)

    assert result.moves > 0 and result.spread_after < result.spread_before
    totals = np.bincount(result.parts, weights=households)
    assert ((totals >= 300) & (totals <= 500)).all() and len(totals) == parts
    assert contiguous(result.parts, pairs)
    assert len({result.parts[i] for i in (60, 61, 72, 73)}) == 1  # the compound moved whole, if at all
    again = even_out_load(start.parts, households, load, pairs, band=(300, 500), compounds=compounds, seed=0)
    assert (again.parts == result.parts).all()  # seeded: the same answer


def test_a_start_outside_the_band_is_refused_and_weights_are_checked() -> None:
    pairs = lattice(4, 4)
    households = np.full(16, 10)
    with pytest.raises(ValueError, match="household band"):
        even_out_load(np.zeros(16, dtype=np.int64), households, np.ones(16), pairs, band=(300, 500))
    values = {"households": households, "incidents": np.zeros(16), "patrol_m": np.ones(16)}
    with pytest.raises(ValueError, match="unknown"):
        unit_loads(values, {"floors": 1}, 2)
    with pytest.raises(ValueError, match="at least one"):
        unit_loads(values, {"households": 0}, 2)
    assert unit_loads(values, {"incidents": 1, "patrol_m": 1}, 2).sum() == pytest.approx(2)  # no incidents: 0
