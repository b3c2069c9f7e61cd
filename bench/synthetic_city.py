"""A scaled synthetic city for benchmarks, made by the demo-district generator (data/demo.py).

    python -m bench.synthetic_city --buildings 50000 --out DIR [--seed N]

writes every layer to DIR/<layer>.gpkg and prints the row counts. Benchmarks import `synthetic_city`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import geopandas as gpd

from data.demo import District, generate_district

LAYERS = ("districts", "streets", "communities", "buildings", "facilities", "network", "grids")


def synthetic_city(buildings: int, seed: int = 7) -> District:
    """A city of about `buildings` buildings (±10 %): demo-sized streets side by side, same seed same city."""
    return generate_district(seed=seed, buildings=buildings)


def write_city(city: District, out: Path) -> dict[str, int]:
    """Write each layer to out/<layer>.gpkg (replacing an older file); rows written per layer."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for layer in LAYERS:
        frame: gpd.GeoDataFrame = getattr(city, layer)
        if layer == "facilities":  # ints and None as Python objects: give the GeoPackage an integer column
            frame = frame.assign(capacity=frame["capacity"].astype("Int64"))
        path = out / f"{layer}.gpkg"
        path.unlink(missing_ok=True)
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
        counts[layer] = len(frame)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.synthetic_city", description="Write a synthetic city, one GeoPackage per layer."
    )
    parser.add_argument("--buildings", type=int, default=50_000, help="about how many (default 50000)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the <layer>.gpkg files")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    city = synthetic_city(args.buildings, args.seed)
    generated = time.perf_counter()
    counts = write_city(city, args.out)
    written = time.perf_counter()

    width = max(map(len, LAYERS))
    for layer, rows in counts.items():
        print(f"{layer:<{width}}  {rows:>8,}")
    print(f"{'households':<{width}}  {int(city.buildings['households'].sum()):>8,}")
    print(f"generated in {generated - started:.1f} s, written to {args.out} in {written - generated:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
