"""Balancing a community into grids: gridmap's `balance_units` beside spopt's `MaxPHeuristic` on the same units.

The community is a side × side lattice of 50 m square units in CGCS2000 / 3-degree Gauss-Kruger CM 114E
(EPSG:4547), about 20,000 households for the default 60 × 60: a quarter of the units are open space
(0 households), the rest draw from Poisson(7.4). A lattice, rather than the synthetic city's buildings,
because it gives both tools exactly the same units and the same rook adjacency (both read one libpysal
`Rook` weights object, built untimed), and a size that is easy to scale. In every 6 × 6 block the
5 × 5 units away from the street row and column form a compound (小区, about 140 households), for a
second gridmap run that keeps each compound whole; max-p has no such notion (its splits are counted).

The band is 300–500 households. gridmap picks the number of grids from the total and balances them
within the band; max-p only guarantees a floor (threshold = 300 households) and maximises the number
of regions, minimising within-region dissimilarity of the unit centroids (x, y, so regions stay
compact). Its simulated annealing dominates its time, so it runs with max_iterations_construction=1
and max_iterations_sa=1 (defaults 99 and 10 would take tens of minutes here), once.
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass

import geopandas as gpd
import libpysal
import networkx as nx
import numpy as np
import shapely
from rich.table import Table

from bench.common import Row, console, print_table, timed
from gis.plans.balance import balance_units

BAND = (300, 500)
UNIT_M = 50.0
BLOCK = 6  # a compound is the first BLOCK-1 rows and columns of each BLOCK × BLOCK block; the rest is street


@dataclass
class Quality:
    method: str
    parts: int
    smallest: int
    largest: int
    in_band: float  # share of parts within the band
    contiguous: float  # share of parts that are contiguous
    compounds_split: int


def lattice_community(side: int, seed: int = 7) -> gpd.GeoDataFrame:
    """Square units in a metric CRS with households, compound names and centroid coordinates."""
    row, col = np.divmod(np.arange(side * side), side)
    rng = np.random.default_rng(seed)
    households = np.where(rng.random(side * side) < 0.25, 0, rng.poisson(7.4, side * side))
    block = (row // BLOCK) * side + col // BLOCK
    inside = (row % BLOCK < BLOCK - 1) & (col % BLOCK < BLOCK - 1)
    compound = [f"小区{b}" if i else None for b, i in zip(block.tolist(), inside.tolist(), strict=True)]
    frame = gpd.GeoDataFrame(
        {"households": households, "compound": compound, "x": (col + 0.5) * UNIT_M, "y": (row + 0.5) * UNIT_M},
        geometry=shapely.box(col * UNIT_M, row * UNIT_M, (col + 1) * UNIT_M, (row + 1) * UNIT_M),
        crs="EPSG:4547",
    )
    return frame


def rook_pairs(weights: libpysal.weights.W) -> np.ndarray:
    """The (m, 2) unit pairs of a libpysal weights object (ids are positions: `use_index=False`)."""
    pairs = [(i, j) for i, neighbours in weights.neighbors.items() for j in neighbours if i < j]
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def measure(method: str, labels: np.ndarray, frame: gpd.GeoDataFrame, pairs: np.ndarray) -> Quality:
    """Band, spread and contiguity of a labelling, checked independently of either tool."""
    parts = np.unique(labels)
    totals = np.array([frame["households"].to_numpy()[labels == p].sum() for p in parts])
    graph = nx.Graph()
    graph.add_nodes_from(range(len(frame)))
    graph.add_edges_from(map(tuple, pairs.tolist()))
    contiguous = [nx.is_connected(graph.subgraph(np.flatnonzero(labels == p).tolist())) for p in parts]
    named = frame["compound"].notna().to_numpy()
    per_compound = frame[named].assign(part=labels[named]).groupby("compound")["part"].nunique()
    return Quality(
        method=method,
        parts=len(parts),
        smallest=int(totals.min()),
        largest=int(totals.max()),
        in_band=float(((totals >= BAND[0]) & (totals <= BAND[1])).mean()),
        contiguous=float(np.mean(contiguous)),
        compounds_split=int((per_compound > 1).sum()),
    )


def compare(side: int, seed: int = 7) -> tuple[list[Row], list[Quality]]:
    frame = lattice_community(side, seed)
    weights = libpysal.weights.Rook.from_dataframe(frame, use_index=False, silence_warnings=True)
    pairs = rook_pairs(weights)
    households = frame["households"].to_numpy()
    compounds = frame["compound"].tolist()
    size = f"{side * side:,} units, {int(households.sum()):,} households"
    results: dict[str, np.ndarray] = {}

    def ours(with_compounds: bool) -> None:
        result = balance_units(
            households,
            pairs,
            min_households=BAND[0],
            max_households=BAND[1],
            compounds=compounds if with_compounds else None,
            seed=seed,
        )
        results["with" if with_compounds else "without"] = result.parts

    def peer() -> None:
        from spopt.region import MaxPHeuristic  # slow to import; only needed here

        np.random.seed(seed)  # max-p draws from numpy's global generator
        model = MaxPHeuristic(
            frame,
            weights,
            ["x", "y"],
            "households",
            BAND[0],
            max_iterations_construction=1,
            max_iterations_sa=1,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # libpysal/scipy deprecation chatter
            model.solve()
        results["peer"] = np.asarray(model.labels_)

    ours_plain = timed(lambda: ours(False))
    ours_compounds = timed(lambda: ours(True))
    peer_time = timed(peer, repeat=1)
    rows = [
        Row(f"balance into {BAND[0]}–{BAND[1]}", size, ours_plain, "spopt MaxPHeuristic", peer_time),
        Row(f"… keeping {frame['compound'].nunique()} compounds whole", size, ours_compounds, "(same run)", peer_time),
    ]
    quality = [
        measure("gridmap balance_units", results["without"], frame, pairs),
        measure("gridmap, compounds kept whole", results["with"], frame, pairs),
        measure("spopt MaxPHeuristic (floor 300)", results["peer"], frame, pairs),
    ]
    return rows, quality


def run(side: int = 60, seed: int = 7) -> list[Row]:
    return compare(side, seed)[0]


def print_quality(quality: list[Quality]) -> None:
    table = Table(title=f"Partition quality (band {BAND[0]}–{BAND[1]} households)", title_justify="left")
    for column in ("method", "parts", "households min–max", "within band", "contiguous", "compounds split"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for q in quality:
        table.add_row(
            q.method,
            str(q.parts),
            f"{q.smallest}–{q.largest}",
            f"{q.in_band:.0%}",
            f"{q.contiguous:.0%}",
            str(q.compounds_split),
        )
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=60, help="units per side of the lattice (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    args, _ = parser.parse_known_args(argv)  # `python -m bench` hands every benchmark the same arguments
    rows, quality = compare(args.side, args.seed)
    print_table(
        "Balancing units into grids (gridmap: median of 3 runs; spopt: 1 run; same units, same adjacency)",
        rows,
        "spopt MaxPHeuristic: max_iterations_construction=1, max_iterations_sa=1; it guarantees only the floor.",
    )
    print_quality(quality)


if __name__ == "__main__":
    main()
