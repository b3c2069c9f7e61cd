"""`python -m bench [NAME ...]` (`make bench`): benchmarks, each printing gridmap beside a peer on the same data.

With no name every benchmark runs with its defaults; `python -m bench.bench_io --help` (etc.) for options.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module

BENCHMARKS = {
    "io": "bench.bench_io",  # import and bbox reads vs geopandas
    "plans": "bench.bench_plans",  # grid edits with validation vs geopandas dissolve/overlay
    "balance": "bench.bench_balance",  # GerryChain rebalancing vs spopt MaxP
    "locate": "bench.bench_locate",  # bulk point-in-grid vs geopandas.sjoin and a PostGIS join
    "assign": "bench.bench_assign",  # `gridmap assign` of 1 M points (CSV, GeoParquet) vs a geopandas script
    "locate_api": "bench.bench_locate_api",  # /api/locate under load (wrk) vs the bare PostGIS query
    "coverage": "bench.bench_coverage",  # walking coverage, all categories, vs networkx
    "tiles": "bench.bench_tiles",  # building tiles z14-16 vs read_postgis + encode; page weight and load time
    "upsert": "bench.bench_upsert",  # keyed re-import of buildings, 1 % changed, vs reading the file + a plain COPY
    "unit_changes": "bench.bench_unit_changes",  # one new building: incremental units vs a full rebuild
    "units": "bench.bench_units",  # units for every community (batch) and the buildings import vs inline / COPY
    "workload": "bench.bench_workload",  # grids balanced by workload vs by households only (demo + incidents)
}


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    for name in names:
        run: Callable[[list[str]], None] = import_module(BENCHMARKS[name]).main
        run([])


if __name__ == "__main__":
    main()
