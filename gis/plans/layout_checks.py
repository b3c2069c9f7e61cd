"""Checks of a grid layout (网格划分检查): the rules of DOMAIN.md §2–3 as a list of findings to show a planner.

Errors break a rule every layout must keep:

- ``gap``: part of a community covered by none of its grids;
- ``overlap``: two grids sharing area;
- ``outside_community``: grid area outside the grid's own community;
- ``building_not_in_one_grid``: a building not lying (≥ 99 % of its area) inside exactly one grid — cut by a grid
  boundary, or outside every grid ("don't cut a building between grids");
- ``non_contiguous``: a grid made of separate parts (parts that touch only at a corner are separate too);
- ``households_below`` / ``households_above``: a grid outside the household band, when one is given.

Warnings are worth a look but may be deliberate:

- ``crosses_community``: a grid reaching into another community (e.g. merged across communities);
- ``low_compactness``: a long or ragged grid (Polsby–Popper score below a threshold).

Everything is pure (geopandas in, findings out) and vectorised: one STRtree bulk query per relation, shapely's
array functions on the candidate pairs, Python loops only over communities and over the findings themselves.
Inputs must share one metric CRS; areas and the tolerance are in its units (m²).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["Finding", "polsby_popper", "validate_layout"]

ERROR, WARNING = "error", "warning"
BUILDING_SHARE = 0.99  # a building belongs to a grid that holds at least this share of its area
TOUCH_DISTANCE = 0.01  # metres: a gap "borders" a grid this close (overlay output is not always exactly noded)


@dataclass(frozen=True)
class Finding:
    """One problem of a layout, with the grids involved and a geometry to draw on a map."""

    type: str
    severity: str  # "error" | "warning"
    grids: tuple[str, ...]
    message: str
    geometry: shapely.Geometry | None


def validate_layout(
    grids: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    min_households: int | None = None,
    max_households: int | None = None,
    compactness_threshold: float = 0.15,
    tolerance_m2: float = 1.0,
) -> list[Finding]:
    """Check a grid layout; findings are sorted errors first, then by type, grid codes and message.

    `grids`: columns code, community_code, households (read only when a band is given), geometry.
    `communities`: code, geometry. `buildings`: geometry, indexed by building id.
    Areas at or below `tolerance_m2` (gaps, overlaps, outlying or stray parts) are digitising noise, not findings.
    """
    _check_crs(grids, communities, buildings)
    layout = _Layout.build(grids, communities)
    findings = [
        *_gaps(layout, tolerance_m2),
        *_overlaps(layout, tolerance_m2),
        *_outside_community(layout, tolerance_m2),
        *_crossings(layout, tolerance_m2),
        *_non_contiguous(layout, tolerance_m2),
        *_households(grids, layout, min_households, max_households),
        *_low_compactness(layout, compactness_threshold),
    ]
    if buildings is not None:
        findings += _buildings(layout, buildings)
    return sorted(findings, key=_sort_key)


def polsby_popper(geometries: Iterable[shapely.Geometry] | gpd.GeoSeries) -> np.ndarray:
    """Polsby–Popper compactness 4πA/P² of each geometry: 1 for a circle, ≈ 0.785 for a square, → 0 when thin.

    NaN for empty geometries and geometries without perimeter.
    """
    geoms = np.asarray(geometries, dtype=object)
    area, perimeter = shapely.area(geoms), shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 4.0 * np.pi * area / perimeter**2
    return np.where(perimeter > 0, score, np.nan)


# -- inputs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Grids and communities as arrays, cleaned, with the index of each grid's own community (-1: unknown)."""

    codes: np.ndarray  # grid codes (str)
    community_codes: np.ndarray  # each grid's community_code (str)
    geoms: np.ndarray  # grid polygons, valid
    own: np.ndarray  # index into communities of each grid's community, -1 when it is not among them
    community_ids: np.ndarray  # community codes (str)
    community_geoms: np.ndarray
    tree: shapely.STRtree  # over geoms

    @classmethod
    def build(cls, grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> _Layout:
        community_ids = communities["code"].astype(str).to_numpy()
        community_codes = grids["community_code"].astype(str).to_numpy()
        position = pd.Index(community_ids).get_indexer(community_codes)  # -1 where missing
        geoms = _valid_polygons(grids.geometry.to_numpy())
        return cls(
            codes=grids["code"].astype(str).to_numpy(),
            community_codes=community_codes,
            geoms=geoms,
            own=position,
            community_ids=community_ids,
            community_geoms=_valid_polygons(communities.geometry.to_numpy()),
            tree=shapely.STRtree(geoms),
        )

    def own_community(self) -> np.ndarray:
        """Each grid's community polygon (empty when its community is unknown)."""
        padded = np.append(self.community_geoms, shapely.Polygon())
        return padded[self.own]  # -1 picks the empty polygon


def _check_crs(grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None) -> None:
    frames = {"grids": grids, "communities": communities} | ({"buildings": buildings} if buildings is not None else {})
    for label, frame in frames.items():
        if frame.crs is not None and frame.crs.is_geographic:
            raise ValueError(f"{label} are in a geographic CRS ({frame.crs.to_string()}); project to a metric CRS")
    crss = {label: frame.crs for label, frame in frames.items()}
    if any(crs != grids.crs for crs in crss.values()):
        named = ", ".join(f"{label}: {crs.to_string() if crs else None}" for label, crs in crss.items())
        raise ValueError(f"layers must share one metric CRS; got {named}")


def _valid_polygons(geoms: np.ndarray) -> np.ndarray:
    """Polygonal geometries made valid where needed (None becomes empty), so overlay never fails.

    make_valid splits a polygon whose ring touches itself (a figure 8) into its parts: contiguity sees them.
    """
    geoms = np.where(shapely.is_missing(geoms), shapely.Polygon(), geoms)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    return geoms


# -- topology ---------------------------------------------------------------------------------------------------


def _gaps(layout: _Layout, tolerance: float) -> Iterator[Finding]:
    """Pieces of each community that none of its own grids cover, one finding per connected piece."""
    covered = np.array(
        [shapely.union_all(layout.geoms[layout.own == k]) for k in range(len(layout.community_geoms))], dtype=object
    )
    pieces, community = shapely.get_parts(shapely.difference(layout.community_geoms, covered), return_index=True)
    keep = shapely.area(pieces) > tolerance
    pieces, community = pieces[keep], community[keep]
    piece_idx, grid_idx = layout.tree.query(pieces, predicate="dwithin", distance=TOUCH_DISTANCE)
    for p, (piece, k) in enumerate(zip(pieces, community, strict=True)):
        bordering = grid_idx[(piece_idx == p) & (layout.own[grid_idx] == k)]
        yield Finding(
            "gap",
            ERROR,
            _sorted_codes(layout.codes[bordering]),
            f"community {layout.community_ids[k]} has {_m2(shapely.area(piece))} covered by none of its grids",
            piece,
        )


def _overlaps(layout: _Layout, tolerance: float) -> Iterator[Finding]:
    """Pairs of grids whose interiors share more than `tolerance` of area."""
    a, b = layout.tree.query(layout.geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    # Neighbours meet along edges: keep only pairs whose interiors meet before computing any overlay.
    inner = shapely.relate_pattern(layout.geoms[a], layout.geoms[b], "T********")
    a, b = a[inner], b[inner]
    shared = _polygonal(shapely.intersection(layout.geoms[a], layout.geoms[b]))
    area = shapely.area(shared)
    for i, j, geom, size in zip(a, b, shared, area, strict=True):
        if size > tolerance:
            codes = _sorted_codes([layout.codes[i], layout.codes[j]])
            yield Finding("overlap", ERROR, codes, f"grids {codes[0]} and {codes[1]} overlap by {_m2(size)}", geom)


def _outside_community(layout: _Layout, tolerance: float) -> Iterator[Finding]:
    outside = _polygonal(shapely.difference(layout.geoms, layout.own_community()))
    area = shapely.area(outside)
    for g in np.flatnonzero(area > tolerance):
        code, community = layout.codes[g], layout.community_codes[g]
        if layout.own[g] < 0:
            message = f"grid {code} belongs to community {community}, which is not among the communities"
        else:
            message = f"grid {code} has {_m2(area[g])} outside its community {community}"
        yield Finding("outside_community", ERROR, (code,), message, outside[g])


def _crossings(layout: _Layout, tolerance: float) -> Iterator[Finding]:
    """Grids reaching into communities other than their own, one finding per grid."""
    community_tree = shapely.STRtree(layout.community_geoms)
    g, k = community_tree.query(layout.geoms, predicate="intersects")
    g, k = g[k != layout.own[g]], k[k != layout.own[g]]
    inside = _polygonal(shapely.intersection(layout.geoms[g], layout.community_geoms[k]))
    area = shapely.area(inside)
    g, k, inside, area = g[area > tolerance], k[area > tolerance], inside[area > tolerance], area[area > tolerance]
    for grid in np.unique(g):
        mine = g == grid
        reached = ", ".join(f"{layout.community_ids[c]} ({_m2(s)})" for c, s in zip(k[mine], area[mine], strict=True))
        yield Finding(
            "crosses_community",
            WARNING,
            (layout.codes[grid],),
            f"grid {layout.codes[grid]} of community {layout.community_codes[grid]} reaches into {reached}",
            shapely.union_all(inside[mine]),
        )


def _non_contiguous(layout: _Layout, tolerance: float) -> Iterator[Finding]:
    """Grids of several parts; specks at or below `tolerance` do not count as parts."""
    multi = np.flatnonzero(shapely.get_num_geometries(layout.geoms) > 1)
    parts, owner = shapely.get_parts(layout.geoms[multi], return_index=True)
    counts = np.bincount(owner[shapely.area(parts) > tolerance], minlength=len(multi))
    for g, n in zip(multi, counts, strict=True):
        if n > 1:
            code = layout.codes[g]
            message = f"grid {code} is made of {n} separate parts (parts meeting only at a corner are separate)"
            yield Finding("non_contiguous", ERROR, (code,), message, layout.geoms[g])


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Overlay results without their stray points and lines (e.g. where two polygons also share an edge)."""
    mixed = np.flatnonzero(shapely.get_type_id(geoms) == shapely.GeometryType.GEOMETRYCOLLECTION)
    if len(mixed):
        geoms = geoms.copy()
        for i in mixed:
            parts = shapely.get_parts(shapely.get_parts(geoms[i]))  # members may be multi-part themselves
            geoms[i] = shapely.multipolygons(parts[shapely.get_dimensions(parts) == 2])
    return geoms


# -- load and shape ------------------------------------------------------------------------------------------


def _households(grids: gpd.GeoDataFrame, layout: _Layout, low: int | None, high: int | None) -> Iterator[Finding]:
    if low is None and high is None:
        return
    households = grids["households"].to_numpy()
    codes, geoms = layout.codes, layout.geoms
    for g in np.flatnonzero(households < low) if low is not None else ():
        message = f"grid {codes[g]} has {households[g]} households, below {low}"
        yield Finding("households_below", ERROR, (codes[g],), message, geoms[g])
    for g in np.flatnonzero(households > high) if high is not None else ():
        message = f"grid {codes[g]} has {households[g]} households, above {high}"
        yield Finding("households_above", ERROR, (codes[g],), message, geoms[g])


def _low_compactness(layout: _Layout, threshold: float) -> Iterator[Finding]:
    score = polsby_popper(layout.geoms)
    for g in np.flatnonzero(score < threshold):  # NaN compares False: empty grids are not scored
        message = f"grid {layout.codes[g]} is elongated or ragged: Polsby–Popper {score[g]:.2f} below {threshold:g}"
        yield Finding("low_compactness", WARNING, (layout.codes[g],), message, layout.geoms[g])


# -- buildings ---------------------------------------------------------------------------------------------------


def _buildings(layout: _Layout, buildings: gpd.GeoDataFrame) -> Iterator[Finding]:
    """Buildings not ≥ 99 % inside exactly one grid.

    Fast path: a building that meets exactly one grid and is covered by it is fine. Both are bulk STRtree
    queries from the grid side: each grid (prepared once per query) is tested against its candidate buildings,
    rather than thousands of buildings each against an unprepared grid.
    Only the rest (normally a few boundary buildings) get an overlay to measure their share in each grid.
    """
    geoms = buildings.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    meet_g, meet_b = tree.query(layout.geoms, predicate="intersects")
    cover_b = tree.query(layout.geoms, predicate="covers")[1]
    fine = (np.bincount(meet_b, minlength=len(geoms)) == 1) & (np.bincount(cover_b, minlength=len(geoms)) == 1)
    doubtful = np.flatnonzero(~fine)
    if not len(doubtful):
        return
    fixed = _valid_polygons(geoms[doubtful])  # invalid building footprints would make the overlay fail
    order = np.argsort(meet_b, kind="stable")
    pair_b, pair_g = meet_b[order], meet_g[order]
    pick = np.isin(pair_b, doubtful)
    pair_b, pair_g = pair_b[pick], pair_g[pick]
    parts = fixed[np.searchsorted(doubtful, pair_b)]
    share = shapely.area(shapely.intersection(parts, layout.geoms[pair_g])) / np.maximum(shapely.area(parts), 1e-12)
    bounds = np.searchsorted(pair_b, doubtful, side="left"), np.searchsorted(pair_b, doubtful, side="right")
    ids = buildings.index.to_numpy()
    for b, start, stop in zip(doubtful, *bounds, strict=True):
        grid_idx, grid_share = pair_g[start:stop], share[start:stop]
        if np.count_nonzero(grid_share >= BUILDING_SHARE) == 1:
            continue
        holding = grid_share > 0  # grids that merely touch the building's walls are not involved
        grid_idx, grid_share = grid_idx[holding], grid_share[holding]
        yield Finding(
            "building_not_in_one_grid",
            ERROR,
            _sorted_codes(layout.codes[grid_idx]),
            _building_message(ids[b], layout.codes[grid_idx], grid_share),
            geoms[b],
        )


def _building_message(building: object, codes: np.ndarray, share: np.ndarray) -> str:
    if not len(codes):
        return f"building {building} lies outside every grid"
    order = np.lexsort((codes, -share))
    split = ", ".join(f"{codes[i]} ({share[i]:.0%})" for i in order)
    if len(codes) == 1:
        return f"building {building} lies only {share[0]:.0%} inside grid {codes[0]}; the rest is outside every grid"
    if np.count_nonzero(share >= BUILDING_SHARE) > 1:
        return f"building {building} lies in overlapping grids: {split}"
    return f"building {building} is cut by a grid boundary: {split}"


# -- helpers -----------------------------------------------------------------------------------------------------


def _sorted_codes(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(str(c) for c in codes))


def _m2(area: float) -> str:
    return f"{area:,.0f} m²" if area >= 10 else f"{area:.1f} m²"


def _sort_key(finding: Finding) -> tuple:
    return (finding.severity != ERROR, finding.type, finding.grids, finding.message)
