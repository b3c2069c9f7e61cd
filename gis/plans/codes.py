"""Standard grid codes (网格编码): CJ/T 349-2010 by default, any layout of data/code_layouts.toml.

A code is the layout's segments in order (DOMAIN.md §3): service code, county (community code [0:6]),
street ([6:9]), community ([9:12]) and the grid's sequence within its community.

- Grids of one community are numbered left→right, top→bottom (see `_reading_order` for what a row is); a
  community that is not subdivided (a single grid) gets sequence 0 (``00`` in CJ/T 349, ``000`` in Beijing).
- A grid merged across communities (its `community_codes` name more than one) takes a new community segment
  from the layout's `merged_community_start` (601) upward; county and street come from its first community.
  Grids merged from the same set of communities share one segment and are sequenced within it like a
  community. Segments are given per street, in reading order of the merged areas.

Numbering depends on geometry and codes only, never on row order, so the same layout always gets the same codes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import shapely

from gis.registry import CODE_NUMBERINGS, CodeLayout, ascii_digits

__all__ = ["number_grids", "renumber_map"]

COMMUNITY_CODE_DIGITS = 12  # 6 county (GB/T 2260) + 3 street (GB/T 10114) + 3 community
ROW_TOLERANCE = 0.5  # a new row starts this many median grid heights below the current row's top


def number_grids(grids: gpd.GeoDataFrame, layout: CodeLayout) -> list[str]:
    """Codes of `grids` (columns community_codes, geometry) under `layout`, in row order.

    Raises ValueError for malformed community codes, a layout it cannot fill, or a segment that overflows.
    """
    _check_layout(layout)
    communities = [_community_codes(value, row) for row, value in enumerate(grids["community_codes"])]
    geoms = grids.geometry.to_numpy()
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    if len(xy) != len(geoms):
        raise ValueError("every grid needs a non-empty geometry to be numbered")
    bounds = shapely.bounds(geoms)
    groups = _groups(communities, layout, xy, bounds, shapely.area(geoms))
    codes: list[str] = [""] * len(geoms)
    for (street, community), members in groups.items():
        for member, sequence in zip(members, _sequences(members, xy, bounds, layout, street + community), strict=True):
            codes[member] = _compose(layout, street[:6], street[6:], community, sequence)
    return codes


def renumber_map(old_codes: Sequence[str], new_codes: Sequence[str]) -> dict[str, str]:
    """Old code → new code for the grids whose code changed (same grids, same order in both sequences)."""
    if len(old_codes) != len(new_codes):
        raise ValueError(f"{len(old_codes)} old codes but {len(new_codes)} new codes")
    seen: dict[str, str] = {}
    for old, new in zip(old_codes, new_codes, strict=True):
        if seen.setdefault(old, new) != new:
            raise ValueError(f"code {old} appears twice with different new codes")
    return {old: new for old, new in seen.items() if old != new}


# -- grouping ---------------------------------------------------------------------------------------------------


def _check_layout(layout: CodeLayout) -> None:
    if layout.numbering not in CODE_NUMBERINGS:
        raise ValueError(f"layout {layout.name}: numbering {layout.numbering!r} is not one of {CODE_NUMBERINGS}")
    widths = {"county": 6, "street": 3, "community": 3}  # how community codes split (COMMUNITY_CODE_DIGITS)
    for segment, width in layout.segments:
        if segment in widths and width != widths[segment]:
            raise ValueError(f"layout {layout.name}: the {segment} segment must be {widths[segment]} digits")
    if layout.width("service") != len(layout.service_code):
        raise ValueError(f"layout {layout.name}: service code {layout.service_code!r} does not fit its segment")


def _community_codes(value: object, row: int) -> tuple[str, ...]:
    """The distinct community codes of one grid, in their given order (a single string is one community)."""
    if isinstance(value, str):
        value = (value,)
    try:
        if not isinstance(value, Iterable):
            raise TypeError
        codes = tuple(dict.fromkeys(str(code) for code in value))
    except TypeError:
        raise ValueError(f"grid at row {row}: community_codes must be a tuple of codes, got {value!r}") from None
    bad = [code for code in codes if len(code) != COMMUNITY_CODE_DIGITS or not ascii_digits(code)]
    if not codes or bad:
        raise ValueError(f"grid at row {row}: community codes must be {COMMUNITY_CODE_DIGITS} digits, got {codes}")
    return codes


def _groups(
    communities: list[tuple[str, ...]],
    layout: CodeLayout,
    xy: np.ndarray,
    bounds: np.ndarray,
    area: np.ndarray,
) -> dict[tuple[str, str], np.ndarray]:
    """(county + street, community segment) → member grids; merged areas get their segments here."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    merged: dict[tuple[str, frozenset[str]], list[int]] = defaultdict(list)
    for g, codes in enumerate(communities):
        if len(codes) == 1:
            groups[(codes[0][:9], codes[0][9:])].append(g)
        else:  # grids merged from the same communities form one merged area
            merged[(codes[0][:9], frozenset(codes))].append(g)
    by_street: dict[str, list[list[int]]] = defaultdict(list)
    for (street, _), members in sorted(merged.items(), key=lambda item: (item[0][0], sorted(item[0][1]))):
        by_street[street].append(members)
    width = layout.width("community")
    for street, areas in by_street.items():
        last = layout.merged_community_start + len(areas) - 1
        if last >= 10**width:
            raise ValueError(
                f"street {street} has {len(areas)} merged areas: community segments "
                f"{layout.merged_community_start}-{last} do not fit {width} digits"
            )
        for k, members in enumerate(_order_areas(areas, xy, bounds, area)):
            segment = f"{layout.merged_community_start + k:0{width}d}"
            if (street, segment) in groups:
                raise ValueError(f"merged community segment {segment} of street {street} is already a community code")
            groups[(street, segment)] = members
    return {key: np.array(members) for key, members in sorted(groups.items())}


def _order_areas(areas: list[list[int]], xy: np.ndarray, bounds: np.ndarray, area: np.ndarray) -> list[list[int]]:
    """Merged areas of one street in reading order of their area-weighted centroids."""
    centre = np.array([np.average(xy[m], axis=0, weights=area[m] if area[m].sum() > 0 else None) for m in areas])
    box = np.array([[*bounds[m, :2].min(axis=0), *bounds[m, 2:].max(axis=0)] for m in areas])
    return [areas[k] for k in _reading_order(centre, _row_tolerance(box))]


# -- sequence -----------------------------------------------------------------------------------------------------


def _sequences(
    members: np.ndarray, xy: np.ndarray, bounds: np.ndarray, layout: CodeLayout, community: str
) -> list[str]:
    """Sequence numbers of one community's grids in `members` order: 0 when it is not subdivided."""
    width = layout.width("sequence")
    if len(members) == 1:
        return ["0" * width]
    if len(members) >= 10**width:
        raise ValueError(
            f"community {community} has {len(members)} grids; a {width}-digit sequence numbers at most {10**width - 1}"
        )
    rank = np.empty(len(members), dtype=int)
    rank[_reading_order(xy[members], _row_tolerance(bounds[members]))] = np.arange(1, len(members) + 1)
    return [f"{r:0{width}d}" for r in rank]


def _row_tolerance(bounds: np.ndarray) -> float:
    """Half the median height of the grids: centroids of one row differ in y by much less than that."""
    return ROW_TOLERANCE * float(np.median(bounds[:, 3] - bounds[:, 1]))


def _reading_order(xy: np.ndarray, row_tolerance: float) -> np.ndarray:
    """Indices left→right, top→bottom (west→east, north→south).

    Points are taken north to south; a point starts a new row when it lies more than `row_tolerance` below the
    first (northernmost) point of the current row, so a row never drifts down a staircase of jittered centroids.
    Within a row, west to east. Ties fall back to x, then to input order, so the result is deterministic.
    """
    order = np.lexsort((np.arange(len(xy)), xy[:, 0], -xy[:, 1]))
    row = np.empty(len(xy), dtype=int)
    current, top = 0, xy[order[0], 1] if len(xy) else 0.0
    for k in order:
        if top - xy[k, 1] > row_tolerance:
            current, top = current + 1, xy[k, 1]
        row[k] = current
    return np.lexsort((np.arange(len(xy)), xy[:, 0], row))


# -- composing -------------------------------------------------------------------------------------------------


def _compose(layout: CodeLayout, county: str, street: str, community: str, sequence: str) -> str:
    values = {
        "service": layout.service_code,
        "county": county,
        "street": street,
        "community": community,
        "sequence": sequence,
    }
    return "".join(values[segment] for segment, _ in layout.segments)
