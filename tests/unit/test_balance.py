"""Balanced contiguous grids from units (gis.plans.balance): pure, no database."""

from __future__ import annotations

import random
import time

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis.plans.balance import BalanceResult, balance_units


def lattice(rows: int, cols: int) -> np.ndarray:
    """Rook adjacency of a rows × cols grid of units numbered row by row."""
    index = np.arange(rows * cols).reshape(rows, cols)
    across = np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], axis=1)
    down = np.stack([index[:-1, :].ravel(), index[1:, :].ravel()], axis=1)
    return np.concatenate([across, down]).reshape(-1, 2)


def contiguous_parts(result: BalanceResult, adjacency: np.ndarray) -> bool:
    graph = nx.Graph()
    graph.add_nodes_from(range(len(result.parts)))
    graph.add_edges_from(map(tuple, adjacency))
    return all(
        nx.is_connected(graph.subgraph(np.flatnonzero(result.parts == part).tolist()))
        for part in range(len(result.households))
    )


def check_consistent(result: BalanceResult, households: np.ndarray, adjacency: np.ndarray) -> None:
    """Invariants every result keeps, satisfied or not."""
    k = len(result.households)
    assert result.parts.shape == households.shape
    assert set(result.parts.tolist()) == set(range(k))  # every part 0..k-1 is used
    assert np.array_equal(np.bincount(result.parts, weights=households, minlength=k), result.households)
    assert result.households.sum() == households.sum()
    assert contiguous_parts(result, adjacency)


@pytest.fixture(scope="module")
def city_block() -> tuple[np.ndarray, np.ndarray]:
    households = np.random.default_rng(42).integers(15, 26, size=40 * 25)
    return households, lattice(25, 40)


def test_a_lattice_is_balanced_within_the_band(city_block: tuple[np.ndarray, np.ndarray]) -> None:
    households, adjacency = city_block
    result = balance_units(households, adjacency, min_households=300, max_households=500, seed=1)
    assert result.satisfied, result.problems
    assert result.problems == []
    check_consistent(result, households, adjacency)
    assert ((result.households >= 300) & (result.households <= 500)).all()
    # k: mean closest to the band's middle (400)
    assert len(result.households) == round(households.sum() / 400)
    assert 1 <= result.attempts <= 20


def test_same_seed_same_result_and_global_random_untouched(city_block: tuple[np.ndarray, np.ndarray]) -> None:
    households, adjacency = city_block
    random.seed(99)
    expected = random.random()
    random.seed(99)
    first = balance_units(households, adjacency, min_households=300, max_households=500, seed=5)
    assert random.random() == expected  # GerryChain got a private Random
    again = balance_units(households, adjacency, min_households=300, max_households=500, seed=5)
    assert np.array_equal(first.parts, again.parts)
    other = balance_units(households, adjacency, min_households=300, max_households=500, seed=6)
    assert other.satisfied
    assert not np.array_equal(first.parts, other.parts)


def test_parts_are_numbered_in_unit_order(city_block: tuple[np.ndarray, np.ndarray]) -> None:
    households, adjacency = city_block
    result = balance_units(households, adjacency, min_households=300, max_households=500)
    _, first = np.unique(result.parts, return_index=True)
    assert (np.diff(first) > 0).all()


def test_forced_number_of_parts(city_block: tuple[np.ndarray, np.ndarray]) -> None:
    households, adjacency = city_block
    result = balance_units(households, adjacency, min_households=300, max_households=500, parts=45)
    assert len(result.households) == 45
    assert result.satisfied, result.problems


def test_compounds_are_kept_whole() -> None:
    rows, cols = 20, 30
    households = np.random.default_rng(3).integers(10, 30, size=rows * cols)
    adjacency = lattice(rows, cols)
    # 3 × 4 blocks of units are compounds (about 240 households each), every other block left free.
    row, col = np.divmod(np.arange(rows * cols), cols)
    block = (row // 3) * 100 + col // 4
    compounds = [f"小区{b}" if b % 2 == 0 else None for b in block]
    result = balance_units(households, adjacency, min_households=300, max_households=500, compounds=compounds)
    check_consistent(result, households, adjacency)
    assert result.satisfied, result.problems
    for name in {c for c in compounds if c}:
        members = [i for i, c in enumerate(compounds) if c == name]
        assert len(set(result.parts[members].tolist())) == 1, name


def test_a_compound_that_nearly_fills_a_grid_is_placed() -> None:
    # A kept-whole compound of ~490 households leaves ≤ 10 of room in its 300–500 grid: plain random cuts
    # leave it for the last bisection and fail; it has to be cut off early (heavy-first cut choice).
    households = np.random.default_rng(0).integers(10, 30, size=400)
    adjacency = lattice(20, 20)
    row, col = np.divmod(np.arange(400), 20)
    big = (row >= 12) & (row < 16) & (col >= 12) & (col < 18)
    compounds = ["中" if b else None for b in big]
    assert 480 <= households[big].sum() <= 500
    for seed in range(3):
        result = balance_units(
            households, adjacency, min_households=300, max_households=500, compounds=compounds, seed=seed
        )
        assert result.satisfied, result.problems
        assert len(set(result.parts[big].tolist())) == 1


def test_a_number_of_parts_that_cannot_work_is_swapped_for_its_neighbour() -> None:
    # A checkerboard of 3 × 3 blocks: 8 compounds of 200 households, 8 free blocks of 250 that touch no
    # other free block. The total (3,600) suggests 9 parts of 400, but then one part would have no
    # compound and so at most 250 households; 8 parts of 450 work.
    row, col = np.divmod(np.arange(144), 12)
    block = (row // 3) * 4 + col // 3
    is_compound = (row // 3 + col // 3) % 2 == 0
    households = np.zeros(144, dtype=np.int64)
    for b in range(16):
        units = np.flatnonzero(block == b)
        households[units] = [0, 0, 0, 0, 200, 0, 0, 0, 0] if is_compound[units[0]] else [28] * 7 + [27, 27]
    assert households.sum() == 3_600
    compounds = [f"小区{b}" if c else None for b, c in zip(block.tolist(), is_compound.tolist(), strict=True)]
    for seed in range(3):
        result = balance_units(
            households, lattice(12, 12), min_households=300, max_households=500, compounds=compounds, seed=seed
        )
        assert result.satisfied, result.problems
        assert len(result.households) == 8


def test_a_tight_band_is_met_by_repairing_parts() -> None:
    households = np.random.default_rng(1).integers(0, 40, size=900)
    adjacency = lattice(30, 30)
    result = balance_units(households, adjacency, min_households=390, max_households=410, seed=1)
    assert result.satisfied, result.problems
    check_consistent(result, households, adjacency)


def test_an_oversized_compound_is_split_and_reported() -> None:
    households = np.full(100, 20)
    adjacency = lattice(10, 10)
    compounds = ["华泰小区" if i < 31 else None for i in range(100)]  # 620 households
    result = balance_units(households, adjacency, min_households=300, max_households=500, compounds=compounds)
    check_consistent(result, households, adjacency)
    assert result.satisfied, result.problems
    assert len(set(result.parts[:31].tolist())) >= 2
    assert any(
        p.startswith("compound 华泰小区 has 620 households, more than 500: it was split") for p in result.problems
    )


def test_a_compound_in_two_separate_pieces_is_reported_if_it_ends_up_split() -> None:
    households = np.full(100, 20)
    adjacency = lattice(10, 10)
    compounds: list[str | None] = [None] * 100
    compounds[0] = compounds[99] = "远方小区"  # opposite corners: cannot share a 300–500 part
    result = balance_units(households, adjacency, min_households=300, max_households=500, compounds=compounds)
    assert result.satisfied
    assert any("远方小区" in p and "do not touch" in p for p in result.problems)


def test_an_impossible_band_is_reported_promptly() -> None:
    households = np.array([400, 400, 400])
    adjacency = np.array([[0, 1], [1, 2]])
    started = time.perf_counter()
    result = balance_units(households, adjacency, min_households=300, max_households=350)
    assert time.perf_counter() - started < 1
    assert not result.satisfied
    check_consistent(result, households, adjacency)
    assert "unit 0 alone has 400 households, more than 350" in result.problems
    assert "part 0 has 400 households, above 350" in result.problems


def test_no_number_of_parts_fits_the_total() -> None:
    households = np.full(11, 50)  # 550: one part is over 500, two are under 300
    adjacency = lattice(1, 11)
    result = balance_units(households, adjacency, min_households=300, max_households=500)
    assert not result.satisfied
    check_consistent(result, households, adjacency)
    assert any("cannot make parts of 300–500" in p for p in result.problems)


def test_a_tight_band_with_few_units_per_part_gives_up_within_bounds() -> None:
    # Units of 90–110 into parts of exactly 400: possible only by luck; the search must stop and report.
    households = np.random.default_rng(0).integers(90, 111, size=64)
    adjacency = lattice(8, 8)
    started = time.perf_counter()
    result = balance_units(households, adjacency, min_households=400, max_households=400, max_attempts=8)
    assert time.perf_counter() - started < 6
    check_consistent(result, households, adjacency)
    if not result.satisfied:
        assert any("no split" in p or "cannot" in p for p in result.problems)


def test_the_time_limit_bounds_a_hopeless_search() -> None:
    households = np.random.default_rng(1).integers(0, 40, size=3600)
    adjacency = lattice(60, 60)
    total = int(households.sum())
    started = time.perf_counter()
    result = balance_units(
        households, adjacency, min_households=total // 300, max_households=total // 300, time_limit=1.0
    )
    assert time.perf_counter() - started < 2.5
    check_consistent(result, households, adjacency)
    assert not result.satisfied


def test_two_islands_are_partitioned_separately() -> None:
    households = np.full(200, 20)  # two 10 × 10 islands of 2,000 households
    adjacency = np.concatenate([lattice(10, 10), lattice(10, 10) + 100])
    result = balance_units(households, adjacency, min_households=300, max_households=500)
    assert result.satisfied, result.problems
    check_consistent(result, households, adjacency)
    assert not set(result.parts[:100].tolist()) & set(result.parts[100:].tolist())


def test_a_small_island_is_its_own_part_and_reported() -> None:
    households = np.full(103, 20)
    adjacency = np.concatenate([lattice(10, 10), [[100, 101], [101, 102]]])  # 60 households across the river
    result = balance_units(households, adjacency, min_households=300, max_households=500)
    check_consistent(result, households, adjacency)
    assert not result.satisfied
    island = result.parts[100]
    assert (result.parts == island).sum() == 3
    assert any("separate piece of 3 units with unit 100" in p and "fewer than 300" in p for p in result.problems)


def test_too_few_forced_parts_for_the_islands() -> None:
    households = np.full(200, 20)
    adjacency = np.concatenate([lattice(10, 10), lattice(10, 10) + 100])
    result = balance_units(households, adjacency, min_households=300, max_households=500, parts=1)
    check_consistent(result, households, adjacency)
    assert len(result.households) == 2
    assert any("pieces that do not touch" in p for p in result.problems)


def test_malformed_input_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        balance_units(np.ones(3), np.array([[0, 3]]), min_households=1, max_households=2)
    with pytest.raises(ValueError, match="band"):
        balance_units(np.ones(3), np.array([[0, 1]]), min_households=5, max_households=2)
    with pytest.raises(ValueError, match="whole numbers"):
        balance_units(np.array([1.5, 2.0]), np.array([[0, 1]]), min_households=1, max_households=2)
    with pytest.raises(ValueError, match="compounds"):
        balance_units(np.ones(3), np.array([[0, 1]]), min_households=1, max_households=2, compounds=["a"])


@st.composite
def communities(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[str | None], int, int]:
    rows, cols = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    n = rows * cols
    households = np.array(draw(st.lists(st.integers(0, 120), min_size=n, max_size=n)))
    adjacency = lattice(rows, cols)
    # Drop some edges (islands, rivers) and name a few compounds.
    keep = draw(st.lists(st.booleans(), min_size=len(adjacency), max_size=len(adjacency)))
    adjacency = adjacency[np.array(keep, dtype=bool)] if len(adjacency) else adjacency
    compounds = draw(st.lists(st.sampled_from([None, None, "甲", "乙"]), min_size=n, max_size=n))
    low = draw(st.integers(0, 300))
    high = low + draw(st.integers(1, 300))
    return households, adjacency, compounds, low, high


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(communities(), st.integers(0, 3), st.one_of(st.none(), st.integers(1, 6)))
def test_any_small_community_gets_contiguous_parts(
    community: tuple[np.ndarray, np.ndarray, list[str | None], int, int], seed: int, parts: int | None
) -> None:
    households, adjacency, compounds, low, high = community
    started = time.perf_counter()
    result = balance_units(
        households,
        adjacency,
        min_households=low,
        max_households=high,
        compounds=compounds,
        seed=seed,
        parts=parts,
        max_attempts=6,
        time_limit=1.0,
    )
    assert time.perf_counter() - started < 2.0
    check_consistent(result, households, adjacency)
    in_band = ((result.households >= low) & (result.households <= high)).all()
    assert result.satisfied == in_band
    assert result.satisfied or result.problems
