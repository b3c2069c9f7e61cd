"""The edges of polygons' rings as arrays: one pass of shapely over parts, rings and coordinates, no Python loop per
geometry. Units (site spacing, adjacency), the locate index (nearest-search segments) and the geodesic distance
all start from these."""

from __future__ import annotations

import numpy as np
import shapely


def ring_edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every edge of every ring of the (multi)polygons `geoms`, in the order GEOS walks them: first points (n, 2),
    last points (n, 2) and the position in `geoms` of each edge's polygon."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, at = shapely.get_coordinates(rings, return_index=True)
    same = at[:-1] == at[1:]  # consecutive vertices of one ring
    return xy[:-1][same], xy[1:][same], part_of[ring_of[at[:-1][same]]]
