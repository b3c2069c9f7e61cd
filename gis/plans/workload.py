"""Grids balanced by the load of managing them (按管理难度), not by households alone: a pure function, no database.

Grid documents ask grid workers' loads to be even: households to visit, incidents to handle, streets to walk.
`even_out_load` starts from a partition already within the household band (gis/plans/balance.py) and moves
whole nodes — a unit, or a compound kept whole — across grid borders with GerryChain's single-flip Markov chain,
accepting a move only when it makes the loads more even (the sum of squared deviations from the mean falls) and
the household band, contiguity and whole compounds still hold. Seeded and deterministic.

The load of a unit is a weighted sum of its parts, each part scaled by its mean per grid so that the weights say
how much each part counts: with weights {households: 1, incidents: 1, patrol_m: 1} a grid with the average of every
part has load 3.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from gerrychain import MarkovChain, Partition
from gerrychain.constraints import no_vanishing_districts, single_flip_contiguous
from gerrychain.graph import Graph
from gerrychain.proposals import propose_random_flip
from gerrychain.updaters import Tally

__all__ = ["LOAD_PARTS", "WorkloadResult", "check_weights", "even_out_load", "unit_loads"]

LOAD_PARTS = ("households", "incidents", "patrol_m")


@dataclass(frozen=True)
class WorkloadResult:
    parts: np.ndarray  # part of each unit, in input order (the same numbering as the start)
    load: np.ndarray  # load per part
    moves: int  # accepted moves
    spread_before: float  # coefficient of variation of the parts' loads
    spread_after: float


def unit_loads(parts_of_units: Mapping[str, np.ndarray], weights: Mapping[str, float], n_parts: int) -> np.ndarray:
    """Each unit's load: Σ weight × value ÷ (the part's total ÷ `n_parts`); a part with a total of 0 counts 0."""
    check_weights(weights)
    size = len(next(iter(parts_of_units.values())))
    load = np.zeros(size)
    for name, weight in weights.items():
        values = np.asarray(parts_of_units[name], dtype=float)
        total = values.sum()
        if weight and total > 0:
            load += weight * values / (total / n_parts)
    return load


def check_weights(weights: Mapping[str, float]) -> None:
    """ValueError unless every weight names a load part, none is negative and one is positive."""
    unknown = set(weights) - set(LOAD_PARTS)
    if unknown:
        raise ValueError(f"unknown load parts {sorted(unknown)}; the parts are {', '.join(LOAD_PARTS)}")
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise ValueError("load weights must be ≥ 0 and at least one > 0")


def even_out_load(
    parts: np.ndarray,
    households: np.ndarray,
    load: np.ndarray,
    adjacency: np.ndarray,
    *,
    band: tuple[int, int],
    compounds: Sequence[str | None] | None = None,
    seed: int = 0,
    steps: int = 4000,
) -> WorkloadResult:
    """Move units between the parts of `parts` so that the parts' loads are as even as single flips make them,
    keeping every part within `band` households, contiguous, and every compound that lies in one part whole.

    `parts` must already satisfy those rules (as a satisfied household balance does); ValueError otherwise."""
    parts = np.asarray(parts, dtype=np.int64)
    n = len(parts)
    group = _groups(parts, compounds)
    nodes = int(group.max()) + 1 if n else 0
    node_households = np.bincount(group, weights=households, minlength=nodes)
    node_load = np.bincount(group, weights=load, minlength=nodes)
    node_part = np.zeros(nodes, dtype=np.int64)
    node_part[group] = parts
    network = nx.Graph()
    for node in range(nodes):
        network.add_node(node, households=float(node_households[node]), load=float(node_load[node]))
    for a, b in np.asarray(adjacency, dtype=np.int64).reshape(-1, 2):
        if group[a] != group[b]:
            network.add_edge(int(group[a]), int(group[b]))
    graph = Graph.from_networkx(network)
    start = Partition(
        graph,
        {node: int(node_part[node]) for node in range(nodes)},
        updaters={"households": Tally("households", alias="households"), "load": Tally("load", alias="load")},
    )
    low, high = band

    def in_band(partition: Partition) -> bool:
        return all(low <= h <= high for h in partition["households"].values())

    def spread(partition: Partition) -> float:
        values = np.array(list(partition["load"].values()))
        return float(((values - values.mean()) ** 2).sum())

    def more_even(partition: Partition, *, rng: random.Random | None = None) -> bool:
        return partition.parent is None or spread(partition) < spread(partition.parent)

    if not (in_band(start) and single_flip_contiguous(start)):
        raise ValueError("the start partition must be within the household band and contiguous")
    chain = MarkovChain(
        propose_random_flip,
        [single_flip_contiguous, no_vanishing_districts, in_band],
        more_even,
        start,
        total_steps=steps,
        rng=random.Random(seed),
    )
    last = start
    moves = -1  # the chain yields the start first
    for state in chain:
        if state is not last:
            moves += 1
        last = state
    node_final = np.array([last.assignment[node] for node in range(nodes)], dtype=np.int64)
    final = node_final[group]
    count = int(parts.max()) + 1 if n else 0
    return WorkloadResult(
        parts=final,
        load=np.bincount(final, weights=load, minlength=count),
        moves=max(moves, 0),
        spread_before=_variation(np.bincount(parts, weights=load, minlength=count)),
        spread_after=_variation(np.bincount(final, weights=load, minlength=count)),
    )


def _groups(parts: np.ndarray, compounds: Sequence[str | None] | None) -> np.ndarray:
    """A node per unit, except that the units of a compound lying in one part form one node (it moves whole)."""
    group = np.arange(len(parts), dtype=np.int64)
    if compounds is None:
        return group
    first: dict[tuple[str, int], int] = {}
    for i, (name, part) in enumerate(zip(compounds, parts, strict=True)):
        if name:
            group[i] = first.setdefault((name, int(part)), i)
    split = {name for name, _ in first} & {n for n, c in _count_parts(first).items() if c > 1}
    for i, name in enumerate(compounds):
        if name in split:
            group[i] = i  # a compound already split across parts: its units move on their own
    _, dense = np.unique(group, return_inverse=True)
    return dense.astype(np.int64)


def _count_parts(first: Mapping[tuple[str, int], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, _ in first:
        out[name] = out.get(name, 0) + 1
    return out


def _variation(values: np.ndarray) -> float:
    mean = values.mean() if len(values) else 0.0
    return float(values.std() / mean) if mean else 0.0
