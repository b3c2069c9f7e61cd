"""Balanced, contiguous grids from a community's units (网格划分): a pure function, no database.

A community's units tile it; each holds 0..n households. `balance_units` groups them into contiguous
parts whose household totals lie in a band (commonly 300–500 per grid, DOMAIN.md §2), keeping each
compound (小区) whole when it fits in one grid. The search is GerryChain's recursive spanning-tree
partition on the unit adjacency graph (DESIGN.md §9): seeded and deterministic, bounded in attempts
and in effort (with the clock as a guard), and honest about what it could not do — every shortfall is
a plain-language line in `problems`.

How it goes:
1. Each compound that fits under the band maximum is contracted into one node (per connected piece),
   so no cut can pass through it; larger compounds stay as units and are reported.
2. The node graph is split into connected pieces (islands, river banks); each piece is partitioned on
   its own because a grid must be contiguous.
3. Each piece gets a number of parts k whose mean lies in the band, as close to the band's middle as
   possible (or a forced `parts`, shared out between pieces).
4. GerryChain's `recursive_tree_part` runs with target = piece total ÷ k and the widest ε that keeps
   target·(1 ± ε) inside the band, retrying with seed+1, seed+2, … and the neighbouring k. Kept-whole
   compounds make the graph lumpy, and such runs tend to fail on their last few parts, so after a few
   tries a run with a wider ε is taken (or, failing all, a peeled spanning tree — always contiguous)
   and each part outside the band is repaired: its neighbourhood of parts is re-partitioned within the
   band (a local run, like GerryChain's ReCom move), which leaves the other parts alone.
5. The result is verified from scratch (band, contiguity, compounds) and `satisfied` set from that.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import numpy as np
import rustworkx
from gerrychain.graph import Graph
from gerrychain.partition import recursive_tree_part
from gerrychain.tree import BalanceError, PopulationBalanceError, bipartition_tree
from scipy.sparse import coo_array
from scipy.sparse.csgraph import breadth_first_order, connected_components

__all__ = ["BalanceResult", "balance_units"]

# Spanning trees drawn per bipartition before a run gives up. The memoized cut finder searches each tree
# exhaustively, so when a balanced cut exists it is usually found in the first few trees; a hopeless
# run should fail fast and leave time for other seeds.
_TREES_PER_CUT = 100
# The search is bounded by effort, counted in spanning-tree nodes drawn plus a fixed cost per tree, so
# that its result does not depend on the machine's speed or load. time_limit sets the effort at this
# rate: 170–190 k/s measured on 2 cores for large graphs (more on small ones, with the fixed cost),
# taken lower so that the effort, not the clock, normally ends the search; the clock is only a guard.
# Strict runs may start until a share of the effort is spent; the rest is for wider runs and repairs.
_TREE_NODES_PER_SECOND = 160_000
_TREE_COST = 10
_STRICT_SHARE = 0.4
# How far a repair may grow the neighbourhood of a part outside the band: rings of touching parts.
_REPAIR_RINGS = 3
# Local repair runs allowed per part outside the band after the whole-piece runs.
_REPAIR_TRIES = 3
# Problems listed part by part before the rest are only counted (a screenful for a planner).
_MAX_PART_LINES = 12
# Extra cost of a spanning-tree edge the tree should avoid: ≥ 1 dominates the [0, 1) random weights.
_SURCHARGE = 1.0


@dataclass(frozen=True)
class BalanceResult:
    """Parts are numbered in order of their first unit, so equal plans get equal numbers."""

    parts: np.ndarray  # part index 0..k-1 for each unit, in input order
    households: np.ndarray  # households per part (length k)
    satisfied: bool  # every part within the band and contiguous
    problems: list[str]  # plain-language reasons for anything not satisfied (may note split compounds even then)
    attempts: int  # GerryChain runs made, whole-piece and local repairs, all pieces together


class _Spent(Exception):
    """Raised inside GerryChain's loop when the effort or the time is used up."""


@dataclass
class _Nodes:
    """The unit graph with every fitting compound contracted into one node."""

    of_unit: np.ndarray  # node index of each unit
    weight: np.ndarray  # households per node
    edges: np.ndarray  # (e, 2) unique node pairs, u < v
    region: np.ndarray  # oversized compound index per node, or a unique negative tag


@dataclass
class _Search:
    """Bounds shared by every piece of one call."""

    seed: int
    max_attempts: int
    strict_effort: int  # strict runs may start until this much effort is spent
    max_effort: int
    deadline: float  # the clock's guard
    surcharge: dict[str, float] | None = None  # GerryChain's region_surcharge, when compounds are oversized
    effort: int = 0  # spanning-tree nodes drawn so far, plus _TREE_COST per tree
    attempts: int = 0
    stopped: bool = False  # the effort or the time ran out

    def spent(self) -> bool:
        return self.effort >= self.max_effort or time.monotonic() > self.deadline


@dataclass
class _Subgraph:
    """Nodes 0..n-1 with households, region tags and (u, v) edges: what one GerryChain run works on."""

    weight: np.ndarray
    edges: np.ndarray
    region: np.ndarray
    _graph: Graph | None = None

    def graph(self) -> Graph:
        """A rustworkx-backed GerryChain graph (about 3× faster than networkx), built once."""
        if self._graph is None:
            rx: rustworkx.PyGraph = rustworkx.PyGraph()
            # GerryChain's RX subgraphs map back to the top graph through "__networkx_node__": the id itself.
            rx.add_nodes_from(
                [
                    {"households": w, "region": r, "__networkx_node__": i}
                    for i, (w, r) in enumerate(zip(self.weight.tolist(), self.region.tolist(), strict=True))
                ]
            )
            rx.add_edges_from([(u, v, {}) for u, v in self.edges.tolist()])
            self._graph = Graph.from_rustworkx(rx)
        return self._graph

    def take(self, members: np.ndarray) -> _Subgraph:
        """The subgraph induced by `members` (ascending), renumbered 0..len-1."""
        local = np.full(len(self.weight), -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        ends = local[self.edges]
        return _Subgraph(self.weight[members], ends[(ends >= 0).all(axis=1)], self.region[members])


@dataclass
class _Piece:
    """One connected piece of the node graph and what was decided for it."""

    nodes: np.ndarray  # node indices, ascending
    total: int
    k: int = 1
    alternatives: list[int] = field(default_factory=list)  # other k worth trying when k fails
    name: str = "the community"  # how messages refer to the piece (renamed when there are several)
    note: str | None = None  # why the band may not be met, reported only if it is not


def balance_units(
    households: np.ndarray,
    adjacency: np.ndarray,
    *,
    min_households: int,
    max_households: int,
    compounds: Sequence[str | None] | None = None,
    seed: int = 0,
    max_attempts: int = 20,
    parts: int | None = None,
    time_limit: float = 5.0,
) -> BalanceResult:
    """Partition units into contiguous parts of `min_households`..`max_households` households each.

    `adjacency` holds (m, 2) pairs of unit indices that share an edge; `compounds` names each unit's
    compound (None for free units). `parts` forces the number of parts. At most `max_attempts`
    whole-piece GerryChain runs are made per connected piece, plus a few cheap local repair runs per
    part left outside the band. The search's effort is bounded by `time_limit` (counted in spanning-tree
    nodes at a rate calibrated on 2 cores, so same inputs and seed give the same result on any machine);
    the clock stops it only if the machine is much slower than that. Either way it is reported when it
    left parts outside the band.
    Malformed input (indices out of range, negative households, an empty band) raises ValueError;
    anything else returns, with what could not be satisfied in `problems`.
    """
    weights, pairs = _validate(households, adjacency, min_households, max_households)
    if parts is not None and parts < 1:
        raise ValueError("parts must be at least 1")
    if max_attempts < 1 or time_limit <= 0:
        raise ValueError("max_attempts must be at least 1 and time_limit positive")
    n_units = len(weights)
    if n_units == 0:
        empty = np.zeros(0, dtype=np.int64)
        return BalanceResult(empty, empty, False, ["there are no units to partition"], 0)
    names = _compound_names(compounds, n_units)
    band = (int(min_households), int(max_households))
    problems: list[str] = []

    nodes, oversized = _contract(weights, pairs, names, band[1])
    pieces = _pieces(nodes)
    for node in np.flatnonzero(nodes.weight > band[1]):
        units = np.flatnonzero(nodes.of_unit == node)
        if len(units) == 1:  # a contracted compound is never over the maximum
            problems.append(f"unit {units[0]} alone has {nodes.weight[node]:,} households, more than {band[1]:,}")
    problems += _choose_parts(pieces, band, parts)

    start = time.monotonic()
    search = _Search(
        seed=seed,
        max_attempts=max_attempts,
        strict_effort=int(_STRICT_SHARE * time_limit * _TREE_NODES_PER_SECOND),
        max_effort=int(time_limit * _TREE_NODES_PER_SECOND),
        deadline=start + time_limit,
        surcharge={"region": _SURCHARGE} if oversized else None,
    )
    node_part = np.zeros(len(nodes.weight), dtype=np.int64)
    offset = 0
    for piece in pieces:
        labels = _partition_piece(nodes, piece, band, search)
        node_part[piece.nodes] = labels + offset
        offset += int(labels.max()) + 1

    unit_part = _renumber(node_part[nodes.of_unit])
    totals = np.bincount(unit_part, weights=weights).astype(np.int64)
    pieces_per_part = _pieces_per_part(unit_part, pairs)
    in_band = _in_band(totals, band)
    contiguous = pieces_per_part == 1

    problems += _search_notes(pieces, nodes, unit_part, in_band)
    if search.stopped and not in_band.all():
        problems.append(f"the search reached its limit ({time_limit:g} s) before finding a split within the band")
    problems += _compound_problems(names, unit_part, oversized, band[1])
    problems += _part_problems(totals, pieces_per_part, band)
    return BalanceResult(
        parts=unit_part,
        households=totals,
        satisfied=bool(in_band.all() and contiguous.all()),
        problems=problems,
        attempts=search.attempts,
    )


# --- input -------------------------------------------------------------------------------------


def _validate(
    households: np.ndarray,
    adjacency: np.ndarray,
    min_households: int,
    max_households: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Households as int64 and adjacency as unique (u < v) pairs; ValueError on malformed input."""
    raw = np.asarray(households)
    if raw.ndim != 1:
        raise ValueError("households must be a 1-D array, one value per unit")
    weights = raw.astype(np.int64)
    if raw.size and (not np.array_equal(weights, raw) or weights.min() < 0):
        raise ValueError("households must be whole numbers ≥ 0")
    pairs = np.asarray(adjacency, dtype=np.int64)
    if pairs.size == 0:
        pairs = pairs.reshape(0, 2)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError("adjacency must be an (m, 2) array of unit index pairs")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= len(weights)):
        raise ValueError("adjacency refers to a unit index out of range")
    if not 0 <= min_households <= max_households or max_households <= 0:
        raise ValueError("the band needs 0 ≤ min_households ≤ max_households and max_households > 0")
    pairs = np.sort(pairs, axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]  # a unit touching itself says nothing
    return weights, np.unique(pairs, axis=0)


def _compound_names(compounds: Sequence[str | None] | None, n_units: int) -> list[str | None]:
    if compounds is None:
        return [None] * n_units
    if len(compounds) != n_units:
        raise ValueError(f"compounds has {len(compounds)} entries for {n_units} units")
    # pandas hands missing values over as NaN (which is not equal to itself); an empty name is no compound.
    return [None if c is None or c != c or c == "" else str(c) for c in compounds]


# --- graph -------------------------------------------------------------------------------------


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label per vertex, numbered in order of each component's lowest vertex."""
    matrix = coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(matrix, directed=False)
    return _renumber(labels)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Relabel 0..k-1 in order of first appearance, so the numbering does not depend on the search."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _contract(
    weights: np.ndarray, pairs: np.ndarray, names: list[str | None], maximum: int
) -> tuple[_Nodes, dict[str, int]]:
    """Contract each compound under `maximum` (per connected piece); oversized compounds → households."""
    totals: dict[str, int] = {}
    for name, w in zip(names, weights.tolist(), strict=True):
        if name is not None:
            totals[name] = totals.get(name, 0) + w
    oversized = {name: total for name, total in totals.items() if total > maximum}

    # Edges inside one fitting compound are merged away; a compound in two pieces stays two nodes.
    ids = {name: i for i, name in enumerate(totals)}
    tag = np.array([-1 if n is None else ids[n] for n in names], dtype=np.int64)
    fits = np.array([n is not None and n not in oversized for n in names], dtype=bool)
    inside = (tag[pairs[:, 0]] == tag[pairs[:, 1]]) & fits[pairs[:, 0]]
    of_unit = _components(len(weights), pairs[inside])

    n_nodes = int(of_unit.max()) + 1
    node_weight = np.bincount(of_unit, weights=weights, minlength=n_nodes).astype(np.int64)
    edges = np.sort(of_unit[pairs[~inside]], axis=1)
    edges = np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0).reshape(-1, 2)

    big = {ids[name] for name in oversized}
    region = -1 - np.arange(n_nodes, dtype=np.int64)  # every node its own region …
    for unit in np.flatnonzero(np.isin(tag, list(big))):
        region[of_unit[unit]] = tag[unit]  # … except the units of an oversized compound, which share one
    return _Nodes(of_unit=of_unit, weight=node_weight, edges=edges, region=region), oversized


def _pieces(nodes: _Nodes) -> list[_Piece]:
    """Connected pieces of the node graph, each named for the messages by its first unit."""
    labels = _components(len(nodes.weight), nodes.edges)
    order = np.argsort(labels, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)
    pieces = [_Piece(nodes=idx, total=int(nodes.weight[idx].sum())) for idx in groups]
    if len(pieces) > 1:
        _, first_unit = np.unique(nodes.of_unit, return_index=True)  # nodes are numbered by their first unit
        for piece in pieces:
            units = int(np.isin(nodes.of_unit, piece.nodes).sum())
            piece.name = f"the separate piece of {units} unit{_s(units)} with unit {first_unit[piece.nodes[0]]}"
    return pieces


def _pieces_per_part(unit_part: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """How many connected pieces each part's units form in the unit graph (1 = contiguous)."""
    same = pairs[unit_part[pairs[:, 0]] == unit_part[pairs[:, 1]]]
    labels = _components(len(unit_part), same)
    k = int(unit_part.max()) + 1
    distinct = np.unique(np.stack([unit_part, labels], axis=1), axis=0)
    return np.bincount(distinct[:, 0], minlength=k)


# --- number of parts -----------------------------------------------------------------------------


def _choose_parts(pieces: list[_Piece], band: tuple[int, int], parts: int | None) -> list[str]:
    """Set k (and fallbacks) on each piece; return what is already known to be wrong."""
    if parts is None:
        for piece in pieces:
            piece.k, piece.alternatives, piece.note = _auto_k(piece, band)
        return []
    problems = []
    if parts < len(pieces):
        problems.append(
            f"{parts} part{_s(parts)} asked for, but the units form {len(pieces)} pieces that do not touch;"
            f" a contiguous part cannot span two, so {len(pieces)} parts were made"
        )
    for piece, k in zip(pieces, _share_parts(pieces, parts), strict=True):
        piece.k = min(k, len(piece.nodes))
        if piece.k < k:
            problems.append(
                f"{piece.name} has only {len(piece.nodes)} units or whole compounds for {k} parts:"
                f" {piece.k} parts were made"
            )
        if not band[0] * piece.k <= piece.total <= band[1] * piece.k:
            piece.note = (
                f"{piece.name} has {piece.total:,} households, which {piece.k} part{_s(piece.k)}"
                f" of {band[0]:,}–{band[1]:,} cannot hold"
            )
    return problems


def _auto_k(piece: _Piece, band: tuple[int, int]) -> tuple[int, list[int], str | None]:
    """The k whose mean is closest to the band's middle; the neighbouring k that also fit; or a note."""
    low, high = band
    middle = (low + high) / 2
    n = len(piece.nodes)
    smallest = max(1, math.ceil(piece.total / high))
    largest = min(n, piece.total // low if low else n)
    feasible = range(smallest, largest + 1)
    if feasible:
        best = min(feasible, key=lambda k: (abs(piece.total / k - middle), k))
        return best, [k for k in (best - 1, best + 1) if k in feasible], None
    if piece.total < low:
        return 1, [], f"{piece.name} has only {piece.total:,} households, fewer than {low:,}: it is one part"

    def miss(k: int) -> tuple[float, float]:
        mean = piece.total / k
        return max(low - mean, mean - high, 0.0), abs(mean - middle)

    near = {min(n, max(1, k)) for k in (math.floor(piece.total / middle), math.ceil(piece.total / middle))}
    best = min(sorted(near), key=miss)
    note = (
        f"{piece.name} has {piece.total:,} households in {n} unit{_s(n)} or whole compound{_s(n)},"
        f" which cannot make parts of {low:,}–{high:,}: {best} part{_s(best)} of"
        f" {piece.total / best:,.0f} on average were made"
    )
    return best, [], note


def _share_parts(pieces: list[_Piece], parts: int) -> list[int]:
    """Share a forced number of parts between pieces by the largest-average rule (D'Hondt), ≥ 1 each."""
    counts = [1] * len(pieces)
    for _ in range(parts - len(pieces)):
        candidates = [i for i, p in enumerate(pieces) if counts[i] < len(p.nodes)] or list(range(len(pieces)))
        best = max(candidates, key=lambda i: (pieces[i].total / counts[i], -i))
        counts[best] += 1
    return counts


def _s(count: int) -> str:
    return "" if count == 1 else "s"


# --- search --------------------------------------------------------------------------------------


def _partition_piece(nodes: _Nodes, piece: _Piece, band: tuple[int, int], search: _Search) -> np.ndarray:
    """Part label 0..k'-1 per node of the piece (k' is k unless every GerryChain run failed)."""
    n = len(piece.nodes)
    if piece.k <= 1:
        return np.zeros(n, dtype=np.int64)
    if piece.k >= n:
        return np.arange(n, dtype=np.int64)

    local = np.full(len(nodes.weight), -1, dtype=np.int64)
    local[piece.nodes] = np.arange(n)
    inside = local[nodes.edges[:, 0]] >= 0  # pieces are components: one end inside means both are
    sub = _Subgraph(nodes.weight[piece.nodes], local[nodes.edges[inside]], nodes.region[piece.nodes])

    runs = 0
    for k in _strict_ks(piece, int(sub.weight.max()), band, search.max_attempts):
        if search.effort >= search.strict_effort or search.spent():
            break  # the rest is for the wider runs and repairs
        runs += 1
        labels = _run(sub, k, piece.total / k, _band_epsilon(piece.total / k, band), search)
        if labels is not None:
            return labels

    # A wider run, then repairs; at the best k first, then at its neighbours, keeping the best outcome.
    best: tuple[int, np.ndarray] | None = None
    repairs = 0
    for k in (piece.k, *piece.alternatives):
        labels = None
        for epsilon in _wider_epsilons(piece.total / k, band):
            if runs >= search.max_attempts or search.spent():
                break
            runs += 1
            labels = _run(sub, k, piece.total / k, epsilon, search)
            if labels is not None:
                break
        if labels is None:
            labels = _peel(sub.weight, sub.edges, piece.total / k)
        labels, tried = _repair(sub, labels, band, search)
        repairs += tried
        missed = int((~_in_band(np.bincount(labels, weights=sub.weight), band)).sum())
        if best is None or missed < best[0]:
            best = (missed, labels)
        if missed == 0 or runs >= search.max_attempts or search.spent():
            break
    assert best is not None
    if best[0] and piece.note is None:
        piece.note = (
            f"no split of {piece.name} into {piece.k} parts of {band[0]:,}–{band[1]:,} households was found"
            f" in {runs} attempt{_s(runs)} and {repairs} local repair{_s(repairs)}"
        )
    return best[1]


def _strict_ks(piece: _Piece, heaviest: int, band: tuple[int, int], max_attempts: int) -> list[int]:
    """The k of each run at the band's own tolerance: a quarter of the attempts.

    A strict run that fails has wasted its work, and with lumpy nodes (kept-whole compounds) it often
    fails on its last few parts; a wider run followed by local repairs (`_repair`) keeps most of its
    parts, so the rest of the attempts go to those. The best k comes first, then the neighbouring k
    take turns with it: some k cannot work at all (with 50 compounds of 200 households that never
    touch each other and free blocks of 200 between them, 51 parts of 300–500 is impossible).
    """
    # Pointless when the mean misses the band or one node is heavier than any part may be.
    if heaviest > band[1] or _band_epsilon(piece.total / piece.k, band) <= 0:
        return []
    cycle = [piece.k]
    for k in piece.alternatives:
        if _band_epsilon(piece.total / k, band) > 0:
            cycle += [k, piece.k]
    return [piece.k, *(cycle[i % len(cycle)] for i in range(max(1, max_attempts // 4) - 1))]


def _wider_epsilons(target: float, band: tuple[int, int]) -> list[float]:
    """Growing tolerances for a run that only has to give a start for the repairs."""
    base = max(_band_epsilon(target, band), (band[1] - band[0]) / (band[1] + band[0]), 0.05)
    return [min(0.95, base * 1.25**j) for j in range(1, 12)]


def _band_epsilon(target: float, band: tuple[int, int]) -> float:
    """Widest ε with target·(1 ± ε) inside the band (≤ 0 when the target is outside it)."""
    if target <= 0:
        return 0.0
    # A hair narrower, so float rounding in GerryChain cannot admit a part just outside the band.
    return min(target - band[0], band[1] - target) / target - 1e-9


def _in_band(totals: np.ndarray, band: tuple[int, int]) -> np.ndarray:
    return (totals >= band[0]) & (totals <= band[1])


def _repair(sub: _Subgraph, labels: np.ndarray, band: tuple[int, int], search: _Search) -> tuple[np.ndarray, int]:
    """Re-partition the neighbourhood of each part outside the band, within the band (like ReCom).

    The neighbourhood is the part and the parts touching it, grown ring by ring (up to `_REPAIR_RINGS`)
    until its total fits its number of parts and a strict run succeeds. Parts outside it keep their
    units, so every success removes at least one part outside the band. Local runs are cheap (a few
    parts' worth of nodes): at most `_REPAIR_TRIES` per part outside the band at the start, and rounds
    stop at the time limit or when two in a row bring no success. Returns the labels and the runs made.
    """
    labels = labels.copy()
    runs, stale, budget = 0, 0, None
    while stale < 2:
        totals = np.bincount(labels, weights=sub.weight)
        heaviest = np.zeros(len(totals))
        np.maximum.at(heaviest, labels, sub.weight)
        miss = np.maximum(band[0] - totals, totals - band[1])
        # A part holding a node over the maximum cannot be fixed; worst first, ties by part number.
        bad = [p for p in np.argsort(-miss, kind="stable").tolist() if miss[p] > 0 and heaviest[p] <= band[1]]
        budget = _REPAIR_TRIES * len(bad) if budget is None else budget
        if not bad:
            break
        stale += 1
        for part in bad:
            if runs >= budget or search.spent():
                search.stopped |= search.spent()
                return labels, runs
            totals = np.bincount(labels, weights=sub.weight)
            if band[0] <= totals[part] <= band[1]:
                continue  # fixed along with an earlier neighbourhood
            fixed, tried = _repair_part(sub, labels, part, totals, band, search, budget - runs)
            runs += tried
            if fixed:
                stale = 0
    return labels, runs


def _repair_part(
    sub: _Subgraph,
    labels: np.ndarray,
    part: int,
    totals: np.ndarray,
    band: tuple[int, int],
    search: _Search,
    budget: int,
) -> tuple[bool, int]:
    """Repair `part`'s neighbourhood in place, growing it after a failure; (success, runs made ≤ budget)."""
    runs = 0
    group = np.array([part])
    touching = labels[sub.edges]
    touching = np.concatenate([touching, touching[:, ::-1]])  # both directions: (part, neighbouring part)
    for _ in range(_REPAIR_RINGS):
        grown = np.union1d(group, touching[np.isin(touching[:, 0], group), 1])
        if len(grown) == len(group):
            break
        group = grown
        k, total = len(group), float(totals[group].sum())
        epsilon = _band_epsilon(total / k, band)
        if epsilon <= 0:
            continue  # the mean misses the band: grow further
        if runs >= budget:
            break
        members = np.flatnonzero(np.isin(labels, group))
        runs += 1
        new = _run(sub.take(members), k, total / k, epsilon, search)
        if new is not None:
            labels[members] = group[new]
            return True, runs
    return False, runs


def _run(sub: _Subgraph, k: int, target: float, epsilon: float, search: _Search) -> np.ndarray | None:
    """One seeded GerryChain run into k parts; labels 0..k-1 per node, or None if it failed or ran out of time."""
    search.attempts += 1
    bipartition: Callable[..., Any] = partial(
        bipartition_tree,
        max_attempts=_TREES_PER_CUT,
        warn_attempts=_TREES_PER_CUT + 1,
        spanning_tree_fn=partial(_spanning_tree, search=search, heavy=target),
        region_surcharge=search.surcharge,
        cut_choice_fn=_choose_cut,
    )
    # A private Random: GerryChain then never touches the global `random` state.
    rng = random.Random(search.seed + search.attempts - 1)
    try:
        flips: dict[Hashable, Hashable] = recursive_tree_part(
            sub.graph(), range(k), target, "households", epsilon, bipartition_tree_fn=bipartition, rng=rng
        )
    except _Spent:
        search.stopped = True
        return None
    except (RuntimeError, BalanceError, PopulationBalanceError, ValueError, KeyError, IndexError):
        # No balanced cut within the attempts (RuntimeError, *BalanceError), or a remainder GerryChain cannot
        # bisect at all, e.g. a single node (KeyError/IndexError deep in its tree walk): try another seed.
        return None
    labels = np.full(len(sub.weight), -1, dtype=np.int64)
    for node, part in flips.items():
        labels[int(cast(int, node))] = int(cast(int, part))  # ints (or numpy ints) typed as Hashable
    return labels if (labels >= 0).all() else None


def _spanning_tree(
    subgraph: Graph,
    region_surcharge: dict[str, float] | None = None,
    *,
    rng: random.Random,
    search: _Search,
    heavy: float,
    **_: Any,
) -> Graph:
    """GerryChain's random Kruskal tree, with surcharges that suit grids; counts the effort.

    Edges touching a heavy node (≥ `heavy` households, i.e. a kept-whole compound that fills a grid by
    itself) cost one more, so the tree reaches it by a single edge: it becomes a leaf that one cut can
    take off alone. With `region_surcharge`, edges leaving an oversized compound cost one more too, so the
    tree crosses its interior first and cuts it only as often as its size forces. Vectorised because
    GerryChain draws one tree per attempt: a Python loop over the edges would triple the run time.
    """
    if search.spent():  # GerryChain loops over spanning trees: stop it between two
        raise _Spent
    rx = subgraph.get_rx_graph()
    search.effort += rx.num_nodes() + _TREE_COST
    ends = np.asarray(rx.edge_list(), dtype=np.int64).reshape(-1, 2)
    size = max(rx.node_indices(), default=-1) + 1
    households = np.zeros(size)
    region = np.zeros(size, dtype=np.int64)
    for index, data in zip(rx.node_indices(), rx.nodes(), strict=True):
        households[index], region[index] = data["households"], data["region"]
    cost = np.random.default_rng(rng.getrandbits(64)).random(len(ends))
    cost += (households[ends] >= heavy).any(axis=1) * _SURCHARGE
    if region_surcharge:
        cost += (region[ends[:, 0]] != region[ends[:, 1]]) * _SURCHARGE
    for index, value in zip(rx.edge_indices(), cost.tolist(), strict=True):
        rx.get_edge_data_by_index(index)["random_weight"] = value  # the cut choice reads it too
    return Graph.from_rustworkx(rustworkx.minimum_spanning_tree(rx, lambda data: data["random_weight"]))


def _choose_cut(
    cut_edge_list: list[Any], populated_graph: Any, region_surcharge: dict[str, float] | None, *, rng: random.Random
) -> Any:
    """Which balanced cut to make: around the heaviest node if possible, else the costliest tree edge.

    A node of w households leaves only (max - w) of room in its part. Left to chance, a heavy node (a big
    kept-whole compound) tends to be left for the last bisection, where a part of w..max next to a part
    in the band rarely exists, and the whole run fails; so it is cut off as soon as a balanced cut
    around it exists. Among the rest GerryChain's own rule applies: the cut at the costliest tree edge,
    i.e. one carrying a surcharge if any does (see `_spanning_tree`). This signature is GerryChain's
    region-aware cut choice, the one that is handed the populations.
    """
    population: dict[Hashable, float] = populated_graph.population
    heavy = [v for v, w in population.items() if w >= populated_graph.ideal_pop]
    for node in sorted(heavy, key=lambda v: (-population[v], v)):
        around = [cut for cut in cut_edge_list if node in cut.subset]
        if around:
            cut_edge_list = around
            break
    return max(cut_edge_list, key=lambda cut: cut.weight)


def _peel(weight: np.ndarray, edges: np.ndarray, target: float) -> np.ndarray:
    """Last resort: cut subtrees of a BFS spanning tree once they reach `target` households.

    Every part is a subtree (or the rest around the root), so parts are always contiguous; their
    sizes are only roughly balanced.
    """
    n = len(weight)
    both = np.concatenate([edges, edges[:, ::-1]])
    matrix = coo_array((np.ones(len(both)), (both[:, 0], both[:, 1])), shape=(n, n)).tocsr()
    order, parent = breadth_first_order(matrix, 0, directed=False, return_predecessors=True)
    load = weight.astype(np.float64)
    cut = np.zeros(n, dtype=bool)
    for node in order[:0:-1]:  # leaves first, root last
        if load[node] >= target:
            cut[node] = True
        else:
            load[parent[node]] += load[node]
    labels = np.zeros(n, dtype=np.int64)
    count = 1
    for node in order[1:]:
        if cut[node]:
            labels[node], count = count, count + 1
        else:
            labels[node] = labels[parent[node]]
    return labels


# --- report --------------------------------------------------------------------------------------


def _search_notes(pieces: list[_Piece], nodes: _Nodes, unit_part: np.ndarray, in_band: np.ndarray) -> list[str]:
    """Each piece's note, only where one of its parts actually missed the band."""
    notes = []
    for piece in pieces:
        units = np.isin(nodes.of_unit, piece.nodes)
        if piece.note and not in_band[np.unique(unit_part[units])].all():
            notes.append(piece.note)
    return notes


def _part_problems(totals: np.ndarray, pieces_per_part: np.ndarray, band: tuple[int, int]) -> list[str]:
    """One line per part outside the band or not contiguous; past a screenful, a count of the rest."""
    lines = []
    for part, total in enumerate(totals.tolist()):
        if total < band[0]:
            lines.append(f"part {part} has {total:,} households, below {band[0]:,}")
        elif total > band[1]:
            lines.append(f"part {part} has {total:,} households, above {band[1]:,}")
        if pieces_per_part[part] != 1:
            lines.append(f"part {part} is not contiguous: it is in {pieces_per_part[part]} pieces")
    if len(lines) > _MAX_PART_LINES:
        rest = len(lines) - _MAX_PART_LINES + 1
        lines = [*lines[: _MAX_PART_LINES - 1], f"… and {rest} more problems with parts like these"]
    return lines


def _compound_problems(
    names: list[str | None], unit_part: np.ndarray, oversized: dict[str, int], maximum: int
) -> list[str]:
    """Oversized compounds and how they were cut; other compounds that ended up in more than one part."""
    spans: dict[str, set[int]] = {}
    for name, part in zip(names, unit_part.tolist(), strict=True):
        if name is not None:
            spans.setdefault(name, set()).add(part)
    problems = []
    for name, parts in spans.items():
        if name in oversized:
            where = f"it was split into {len(parts)} parts" if len(parts) > 1 else "it is one part, over the maximum"
            problems.append(f"compound {name} has {oversized[name]:,} households, more than {maximum:,}: {where}")
        elif len(parts) > 1:
            problems.append(f"compound {name} is in pieces that do not touch, which ended up in {len(parts)} parts")
    return problems
