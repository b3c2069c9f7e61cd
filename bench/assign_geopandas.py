"""The peer of `gridmap assign` in bench/bench_assign.py: the plain geopandas script a GIS analyst would write.

`python -m bench.assign_geopandas GRIDS POINTS OUT` reads the grids (any file geopandas reads; the benchmark exports
the published plan's grids with their community and street codes as GeoParquet), reads the points (CSV with lon/lat
columns, or GeoParquet), joins each point to the grid that contains it (geopandas.sjoin, predicate "within", a point
on a shared edge keeps its first match) and writes the points with grid_code, community_code and street_code as CSV
or GeoParquet, by OUT's extension. It does no snapping to the nearest grid: points in no grid get empty codes.
"""

from __future__ import annotations

import sys

import geopandas as gpd
import pandas as pd


def main(argv: list[str]) -> None:
    grids_path, points_path, out = argv
    grids = gpd.read_parquet(grids_path)[["code", "community_code", "street_code", "geometry"]]
    if points_path.endswith(".csv"):
        table = pd.read_csv(points_path)
        points = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326)
    else:
        points = gpd.read_parquet(points_path)
    joined = gpd.sjoin(points, grids.rename(columns={"code": "grid_code"}), how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].drop(columns="index_right")
    if out.endswith(".csv"):
        joined.drop(columns="geometry").to_csv(out, index=False)
    else:
        joined.to_parquet(out)


if __name__ == "__main__":
    main(sys.argv[1:])
