"""A deterministic synthetic sub-district (街道) of Haishu (海曙区), Ningbo, for demos, tests and benchmarks.

`generate_district()` builds one street of about 2.5 km² around 121.55 E, 29.87 N with ~6 communities and
~4,500 buildings; `generate_district(buildings=N)` adds streets until the city holds about N buildings.
Every layer is a GeoDataFrame in EPSG:4326:

- districts, streets, communities: administrative areas whose boundaries follow road centrelines; the
  communities tile their street and the streets tile the district exactly;
- buildings: walled compounds (小区) of 6-18-floor apartment slabs, old-town blocks of 1-3-floor houses and
  non-residential buildings (shops, offices, schools, clinics), with households and resident, registered
  and floating population;
- facilities: service facilities of every category in data/facility_categories.toml, a few deliberately
  sparse so that coverage gaps exist;
- network: a noded walking network (edges meet only at their ends) of roads on a jittered lattice plus
  footways through every block;
- grids: the existing grid layout: 300-500 households per grid, tiling each community, coded by CJ/T 349.

How it is built (in metres, CGCS2000 3-degree Gauss-Krüger EPSG:4549, transformed to EPSG:4326 at the end):
roads run along the lines of a lattice with irregular spacing and jittered nodes; each lattice cell (a block)
is cut by a north-south footway (its spine) into a west and an east half cell. Buildings are laid out per
half cell, clear of every road, spine and lane, so a boundary drawn along those lines never cuts a building.
Streets and communities are rectangles of cells; a grid is a run of consecutive half cells along a serpentine
path through its community, cut where the running household count lies within 300-500.

Names and codes are invented for demonstration; they are not official data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

__all__ = ["DEFAULT_BUILDINGS", "DEFAULT_SEED", "District", "generate_district"]

METRIC_CRS = "EPSG:4549"  # CGCS2000 / 3-degree Gauss-Kruger CM 120E: Ningbo lies 1.5 degrees east of it
STORAGE_CRS = "EPSG:4326"
NULL = np.array(None, dtype=object)  # a missing name in np.where over object arrays
CENTRE_LONLAT = (121.55, 29.87)

DISTRICT_CODE, DISTRICT_NAME = "330203", "海曙区"
SERVICE_CODE = "010100"  # service code of the default CJ/T 349 layout in data/code_layouts.toml
GRID_MIN_HOUSEHOLDS, GRID_MAX_HOUSEHOLDS = 300, 500  # a local rule (DOMAIN.md §2)
DEFAULT_SEED = 20261123
DEFAULT_BUILDINGS = 4_500  # one street; larger targets add streets of about this size
CELLS_PER_STREET = 81
MEAN_CELL_SIDE = 175.0  # metres between roads: block sides 110-250 m
NODE_JITTER = 10.0  # metres, so that blocks are not rectangles
BEND = 3.0  # metres a road bends at the middle of a block side
BUILDING_TOLERANCE = 0.03  # calibrate the building count to within 3 % of the target
HALF_CELL_CAP = 240  # households per half cell: below the grid range's width, so grids can always be cut

# Road kinds; setbacks are metres from the centreline to the nearest building.
PRIMARY, SECONDARY, RESIDENTIAL, FOOTWAY = range(4)
KIND_NAMES = ("primary", "secondary", "residential", "footway")
SETBACK = np.array([20.0, 13.0, 8.0, 5.0])
LANE_CLEAR = 4.5  # metres either side of an old-town lane kept free of houses
INNER_CLEAR = 2.5  # every building keeps this distance inside its half cell

# Cell uses.
COMPOUND_LOW, COMPOUND_HIGH, OLDTOWN, INSTITUTION, COMMERCIAL, PARK = range(6)
COMPOUNDS = (COMPOUND_LOW, COMPOUND_HIGH)

# Building roles: what a building is, for addresses and facility sites.
HOUSE, SHOP, SLAB, AMENITY, CAMPUS, OFFICE, PAVILION = range(7)

STREETS = (  # (code within the district, name); the first one is the default street
    ("008", "白云街道"),
    ("001", "鼓楼街道"),
    ("002", "南门街道"),
    ("003", "西门街道"),
    ("004", "江厦街道"),
    ("005", "月湖街道"),
    ("006", "段塘街道"),
    ("007", "望春街道"),
    ("009", "石碶街道"),
    ("010", "古林街道"),
    ("011", "高桥街道"),
    ("012", "集士港街道"),
    ("013", "横街街道"),
    ("014", "洞桥街道"),
    ("015", "章水街道"),
)
NAME_FIRST = "华泰白云望春柳汀南西青丽兴宁安康和文昌永丰新宝庆明德秀翠锦嘉瑞惠天尚孝莲广紫金银长开"
NAME_SECOND = "园泰云湖春汀苑林丰安康和平兴宁昌明德秀水江桥庄塘山湾堂溪河芳华桂竹松枫荷兰梅晖光"
BANKS = ("中国工商银行", "中国农业银行", "中国银行", "中国建设银行", "宁波银行", "交通银行")
CHINESE_ORDINALS = "零一二三四五六七八九"
STORES = ("邻家便利店", "惠民便利店", "快客便利店", "好邻居超市", "康民大药房", "仁心药房")


@dataclass(frozen=True)
class District:
    """The layers of a generated district, each a GeoDataFrame in EPSG:4326."""

    districts: gpd.GeoDataFrame  # code, name, geometry
    streets: gpd.GeoDataFrame  # code, name, district_code, geometry
    communities: gpd.GeoDataFrame  # code, name, street_code, geometry
    buildings: gpd.GeoDataFrame  # name, address, compound, floors, residential, households, population_*
    facilities: gpd.GeoDataFrame  # name, category, capacity, public, geometry
    network: gpd.GeoDataFrame  # name, kind, geometry
    grids: gpd.GeoDataFrame  # code, name, community_code, geometry


def generate_district(seed: int = DEFAULT_SEED, buildings: int | None = None) -> District:
    """Generate the demo street (`buildings=None`) or a city of about `buildings` buildings (±10 %).

    The same seed and size always give identical output.
    """
    target = DEFAULT_BUILDINGS if buildings is None else int(buildings)
    if target < 300:
        raise ValueError(f"buildings must be at least 300, got {target}")
    rng = np.random.default_rng(seed)
    town = _plan_town(target, rng, seed)
    _assign_uses(town, rng)
    _calibrate(town, target)
    _assemble_buildings(town)
    _merge_compounds(town, rng)
    _name_places(town, rng)
    _cut_grids(town)
    _populate(town, rng)
    _address(town, rng)
    _place_facilities(town, rng)
    return _frames(town)


# -- plan: streets, communities and the road lattice ------------------------------------------------------


@dataclass
class _Lattice:
    """Road lattice in local metres: jittered nodes, bent midpoints of block sides, cell centres."""

    nodes: np.ndarray  # (nx+1, ny+1, 2)
    mid_h: np.ndarray  # (nx, ny+1, 2): middle of the horizontal side from node (i, j) to (i+1, j)
    mid_v: np.ndarray  # (nx+1, ny, 2): middle of the vertical side from node (i, j) to (i, j+1)
    centre: np.ndarray  # (nx, ny, 2): where the cell's spine crosses the line between mid_v of its sides
    h_kind: np.ndarray  # (ny+1,) road kind of each horizontal lattice line
    v_kind: np.ndarray  # (nx+1,)

    @property
    def nx(self) -> int:
        return self.mid_h.shape[0]

    @property
    def ny(self) -> int:
        return self.mid_v.shape[1]


@dataclass
class _Halves:
    """Half cells, indexed h = 2 * (i * ny + j) + side (side 0 west, 1 east of the spine)."""

    corners: np.ndarray  # (nh, 4, 2): bilinear patch corners q00, q10, q11, q01 (SW, SE, NE, NW)
    size: np.ndarray  # (nh, 2): mean width and height in metres
    margin: np.ndarray  # (nh, 4): setback of buildings from the left, right, bottom and top sides
    major: np.ndarray  # (nh, 4): that side is a primary or secondary road
    polygon: np.ndarray  # (nh,) polygons that tile the lattice exactly (shared vertices are identical)
    inner: np.ndarray  # (nh,) polygons shrunk by INNER_CLEAR: buildings must lie inside


@dataclass
class _Town:
    """Everything generated so far; the steps of generate_district fill it in order."""

    seed: int
    lattice: _Lattice
    halves: _Halves
    streets: list[tuple[int, int, int, int]]  # cell rectangles (i0, i1, j0, j1)
    communities: list[tuple[int, int, int, int, int]]  # (i0, i1, j0, j1, street index)
    cell_comm: np.ndarray  # (n_cells,) community index of each cell, c = i * ny + j
    to_world: Callable[[np.ndarray], np.ndarray]  # local metres -> EPSG:4549
    # Filled in by the steps, in order (unset until the step that makes them has run).
    uses: np.ndarray = field(init=False)
    compound_high: np.ndarray = field(init=False)  # compound cells' type if the cell ends up a compound
    score: np.ndarray = field(init=False)  # how "old" a cell is: old-town blocks cluster where it is high
    cache: dict[tuple[int, int], dict[str, np.ndarray]] = field(default_factory=dict)  # cell layouts, while used
    b: dict[str, Any] = field(init=False)  # building attributes, one array (or list) each
    compound_of_cell: np.ndarray = field(init=False)
    down_h: np.ndarray = field(init=False)  # road sides downgraded to compound footways
    down_v: np.ndarray = field(init=False)
    names: dict[str, list] = field(init=False)
    namer: _Namer = field(init=False)
    comm_codes: np.ndarray = field(init=False)  # 12-digit code of each community
    grid_units: list[tuple[int, np.ndarray]] = field(init=False)  # (community, half cells) per grid
    facilities: dict[str, list] = field(init=False)

    @property
    def n_cells(self) -> int:
        return self.lattice.nx * self.lattice.ny

    def cell_ij(self, c: np.ndarray | int) -> tuple:
        return np.divmod(c, self.lattice.ny)


def _plan_town(target: int, rng: np.random.Generator, seed: int) -> _Town:
    nx, ny, streets = _plan_streets(target, rng)
    communities = [(*rect, s) for s, street in enumerate(streets) for rect in _plan_communities(street, rng)]
    cell_comm = np.full(nx * ny, -1)
    for k, (i0, i1, j0, j1, _) in enumerate(communities):
        ii, jj = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1), indexing="ij")
        cell_comm[(ii * ny + jj).ravel()] = k
    lattice = _make_lattice(nx, ny, rng)
    return _Town(
        seed=seed,
        lattice=lattice,
        halves=_make_halves(lattice),
        streets=streets,
        communities=communities,
        cell_comm=cell_comm,
        to_world=_world_transform(rng),
    )


def _plan_streets(target: int, rng: np.random.Generator) -> tuple[int, int, list[tuple[int, int, int, int]]]:
    """Lattice size and street rectangles: bands of streets stacked north-south, offset like bricks."""
    n_streets = max(1, round(target / DEFAULT_BUILDINGS))
    if n_streets == 1:
        cells = int(np.clip(round(CELLS_PER_STREET * target / DEFAULT_BUILDINGS), 16, 120))
        nx = round(math.sqrt(cells))
        ny = max(4, round(cells / nx))
        return nx, ny, [(0, nx, 0, ny)]
    n_bands = max(1, round(math.sqrt(n_streets)))
    per_band = np.full(n_bands, n_streets // n_bands)
    per_band[: n_streets % n_bands] += 1
    per_band = rng.permutation(per_band)
    heights = rng.integers(8, 11, n_bands)
    ny = int(heights.sum())
    nx = max(4 * int(per_band.max()), round(CELLS_PER_STREET * n_streets / ny))
    streets, j0 = [], 0
    for k, h in zip(per_band, heights, strict=True):
        cuts = np.round(np.linspace(0, nx, k + 1)).astype(int)
        cuts[1:-1] += rng.integers(-1, 2, k - 1)
        streets += [(int(a), int(b), j0, j0 + int(h)) for a, b in itertools.pairwise(cuts)]
        j0 += int(h)
    return nx, ny, streets


def _plan_communities(street: tuple[int, int, int, int], rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """Columns of about three cells, each cut once north-south at its own row: about 13 cells each."""
    i0, i1, j0, j1 = street
    n_cols = max(1, round((i1 - i0) / 3))
    cols = np.round(np.linspace(i0, i1, n_cols + 1)).astype(int)
    out: list[tuple[int, int, int, int]] = []
    for a, b in itertools.pairwise(cols):
        h = j1 - j0
        if h >= 6:
            cut = j0 + int(rng.integers(h // 2 - 1, h // 2 + 2))
            out += [(int(a), int(b), j0, cut), (int(a), int(b), cut, j1)]
        else:
            out.append((int(a), int(b), j0, j1))
    return out


def _make_lattice(nx: int, ny: int, rng: np.random.Generator) -> _Lattice:
    gx, gy = np.meshgrid(_spacing(nx, rng), _spacing(ny, rng), indexing="ij")
    nodes = np.stack([gx, gy], axis=-1) + rng.uniform(-NODE_JITTER, NODE_JITTER, (nx + 1, ny + 1, 2))
    mid_h = _bent_midpoints(nodes[:-1, :], nodes[1:, :], rng)
    mid_v = _bent_midpoints(nodes[:, :-1], nodes[:, 1:], rng)
    centre = _crossing(mid_h[:, :-1], mid_h[:, 1:], mid_v[:-1, :], mid_v[1:, :])
    return _Lattice(nodes, mid_h, mid_v, centre, _line_kinds(ny, rng), _line_kinds(nx, rng))


def _spacing(n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of n + 1 lattice lines, centred on 0, with irregular gaps averaging MEAN_CELL_SIDE."""
    gaps = rng.uniform(120.0, 230.0, n)
    gaps *= MEAN_CELL_SIDE * n * rng.uniform(0.96, 1.04) / gaps.sum()
    pos = np.concatenate([[0.0], np.cumsum(gaps)])
    return pos - pos[-1] / 2


def _bent_midpoints(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    d = b - a
    normal = np.stack([-d[..., 1], d[..., 0]], axis=-1) / np.linalg.norm(d, axis=-1, keepdims=True)
    return (a + b) / 2 + normal * rng.uniform(-BEND, BEND, d.shape[:-1])[..., None]


def _crossing(p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, p4: np.ndarray) -> np.ndarray:
    """Intersection of the lines p1-p2 and p3-p4, elementwise."""
    d1, d2, r = p2 - p1, p4 - p3, p3 - p1
    t = (r[..., 0] * d2[..., 1] - r[..., 1] * d2[..., 0]) / (d1[..., 0] * d2[..., 1] - d1[..., 1] * d2[..., 0])
    return p1 + t[..., None] * d1


def _line_kinds(n: int, rng: np.random.Generator) -> np.ndarray:
    """Primary arterials every fourth line (~700 m), secondary roads halfway, residential roads between."""
    k = np.arange(n + 1) - rng.integers(0, 4)
    kinds = np.where(k % 4 == 0, PRIMARY, np.where(k % 2 == 0, SECONDARY, RESIDENTIAL))
    kinds[[0, -1]] = np.minimum(kinds[[0, -1]], SECONDARY)  # the edge of the city is a through road
    return kinds


def _make_halves(lat: _Lattice) -> _Halves:
    p, mh, mv, x = lat.nodes, lat.mid_h, lat.mid_v, lat.centre
    sw, se, ne, nw = p[:-1, :-1], p[1:, :-1], p[1:, 1:], p[:-1, 1:]
    s, n, w, e = mh[:, :-1], mh[:, 1:], mv[:-1, :], mv[1:, :]
    corners = np.stack([np.stack([sw, s, n, nw], 2), np.stack([s, se, ne, n], 2)], 2).reshape(-1, 4, 2)
    rings = np.stack([np.stack([sw, s, x, n, nw, w, sw], 2), np.stack([s, se, e, ne, n, x, s], 2)], 2)
    polygon = shapely.polygons(rings.reshape(-1, 7, 2))

    size = (
        np.stack(
            [
                (
                    np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1)
                    + np.linalg.norm(corners[:, 2] - corners[:, 3], axis=1)
                ),
                (
                    np.linalg.norm(corners[:, 3] - corners[:, 0], axis=1)
                    + np.linalg.norm(corners[:, 2] - corners[:, 1], axis=1)
                ),
            ],
            axis=1,
        )
        / 2
    )
    nx, ny = lat.nx, lat.ny
    left = np.stack(np.broadcast_arrays(lat.v_kind[:-1, None], FOOTWAY), -1)  # (nx, 1, 2) west / east half
    right = np.stack(np.broadcast_arrays(FOOTWAY, lat.v_kind[1:, None]), -1)
    bottom, top = lat.h_kind[None, :-1, None], lat.h_kind[None, 1:, None]
    kinds = np.stack(np.broadcast_arrays(left, right, bottom, top), -1).reshape(nx * ny * 2, 4)
    return _Halves(
        corners=corners,
        size=size,
        margin=SETBACK[kinds],
        major=kinds <= SECONDARY,
        polygon=polygon,
        inner=shapely.buffer(polygon, -INNER_CLEAR, join_style="mitre"),
    )


def _world_transform(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """Local metres -> EPSG:4549: a slight rotation (old city blocks are not aligned north) and the origin."""
    theta = math.radians(rng.uniform(-5.0, 5.0))
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    origin = np.array(Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True).transform(*CENTRE_LONLAT))
    return lambda xy: xy @ rot.T + origin


# -- land use -----------------------------------------------------------------------------------------------


def _assign_uses(town: _Town, rng: np.random.Generator) -> None:
    """Institutions, commercial cells and parks spread over communities; the rest is residential.

    Whether a residential cell is an old-town block or a compound is settled by _calibrate: old-town blocks
    take the cells where a smooth random field is highest, so the old town is a few coherent areas.
    """
    lat, n = town.lattice, town.n_cells
    i, j = town.cell_ij(np.arange(n))
    on_primary = (lat.v_kind[i] == PRIMARY) | (lat.v_kind[i + 1] == PRIMARY)
    on_primary |= (lat.h_kind[j] == PRIMARY) | (lat.h_kind[j + 1] == PRIMARY)
    uses = np.full(n, -1)
    for s, (i0, i1, j0, j1) in enumerate(town.streets):
        comms = [k for k, rect in enumerate(town.communities) if rect[4] == s]
        cells = (i1 - i0) * (j1 - j0)
        quotas = (
            (INSTITUTION, max(2, round(0.10 * cells))),
            (COMMERCIAL, max(1, round(0.05 * cells))),
            (PARK, max(1, round(0.04 * cells))),
        )
        turns = rng.permutation(len(comms))  # communities take turns, so each gets its share
        turn = 0
        for use, count in quotas:
            for _ in range(count):
                k = comms[turns[turn % len(comms)]]
                turn += 1
                free = np.flatnonzero((town.cell_comm == k) & (uses < 0))
                if len(free) <= 6:  # keep every community mostly residential
                    continue
                weight = 1.0 + 3.0 * on_primary[free] if use == COMMERCIAL else np.ones(len(free))
                uses[rng.choice(free, p=weight / weight.sum())] = use
    town.uses = uses
    town.compound_high = rng.random(n) < 0.35
    town.score = _smooth_field(lat.centre.reshape(-1, 2), rng)


def _smooth_field(xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angles = rng.uniform(0, 2 * np.pi, 4)
    waves = rng.uniform(900.0, 2000.0, 4)
    phases = rng.uniform(0, 2 * np.pi, 4)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    field = np.cos(2 * np.pi * (xy @ directions.T) / waves + phases).sum(axis=1)
    return field + rng.normal(0.0, 0.4, len(xy))


def _calibrate(town: _Town, target: int) -> None:
    """Turn residential cells into old-town blocks (many small houses) or compounds (few slabs) in order of
    the field until the building count is within BUILDING_TOLERANCE of the target."""
    town.cache = {}
    residential = np.flatnonzero(town.uses < 0)
    order = residential[np.argsort(-town.score[residential], kind="stable")]
    compound = np.where(town.compound_high, COMPOUND_HIGH, COMPOUND_LOW)

    def count(c: int, use: int) -> int:
        return len(_cell_layout(town, int(c), use)["x"])

    fixed = sum(count(int(c), int(town.uses[c])) for c in np.flatnonzero(town.uses >= 0))
    k = int(np.clip(round((target - fixed - 9 * len(order)) / 105), 0, len(order)))  # ~105 more per block
    total = fixed + sum(count(c, OLDTOWN) for c in order[:k]) + sum(count(c, compound[c]) for c in order[k:])
    low, high, last = target * (1 - BUILDING_TOLERANCE), target * (1 + BUILDING_TOLERANCE), 0
    while True:
        step = 1 if total < low and k < len(order) else -1 if total > high and k > 0 else 0
        if step == 0:
            break
        c = order[k] if step > 0 else order[k - 1]
        delta = step * (count(c, OLDTOWN) - count(c, compound[c]))
        if step == -last and abs(total + delta - target) >= abs(total - target):
            break  # one block overshoots the whole band (small towns): keep the nearer count
        total, k, last = total + delta, k + step, step
    town.uses[order[:k]] = OLDTOWN
    town.uses[order[k:]] = compound[order[k:]]


# -- buildings ---------------------------------------------------------------------------------------------


def _cell_layout(town: _Town, c: int, use: int) -> dict[str, np.ndarray]:
    """Buildings of cell c for a use, cached; each cell and use has its own random stream, so the result
    does not depend on the order in which cells are laid out."""
    key = (c, use)
    if key not in town.cache:
        town.cache[key] = _lay_out_cell(town, c, use, np.random.default_rng([town.seed, 1, c, use]))
    return town.cache[key]


def _lay_out_cell(town: _Town, c: int, use: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    hv = town.halves
    amenity_side = int(rng.integers(2)) if use in COMPOUNDS and rng.random() < 0.6 else -1
    parts = []
    for side in (0, 1):
        h = 2 * c + side
        (lx, ly), m, major = hv.size[h], hv.margin[h], hv.major[h]
        if use == OLDTOWN:
            spec = _oldtown_half(rng, lx, ly, m, major)
        elif use in COMPOUNDS:
            spec = _compound_half(rng, lx, ly, m, use == COMPOUND_HIGH, side == amenity_side)
        elif use == INSTITUTION:
            spec = _campus_half(rng, lx, ly, m, side == 0)
        elif use == COMMERCIAL:
            spec = _commercial_half(rng, lx, ly, m, side == 0)
        else:
            spec = _park_half(rng, lx, ly, m)
        spec["half"] = np.full(len(spec["x"]), h)
        parts.append(spec)
    b = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    b["coords"] = _footprints(hv.corners[b["half"]], hv.size[b["half"]], b["x"], b["y"], b["w"], b["d"])
    polys = shapely.polygons(b["coords"])
    keep = shapely.contains_properly(hv.inner[b["half"]], polys)
    if use == OLDTOWN:
        keep &= ~shapely.intersects(shapely.buffer(_lane(town.lattice, c), 1.5), polys)
    keep[keep] = _first_of_overlaps(polys[keep])
    b = {key: v[keep] for key, v in b.items()}
    return _cap_households(b)


def _spec(x, y, w, d, floors, households, capacity, role) -> dict[str, np.ndarray]:
    n = len(x)
    return {
        "x": np.asarray(x, float).reshape(n),
        "y": np.broadcast_to(np.asarray(y, float), (n,)).copy(),
        "w": np.broadcast_to(np.asarray(w, float), (n,)).copy(),
        "d": np.broadcast_to(np.asarray(d, float), (n,)).copy(),
        "floors": np.broadcast_to(np.asarray(floors, np.int64), (n,)).copy(),
        "households": np.broadcast_to(np.asarray(households, np.int64), (n,)).copy(),
        "capacity": np.broadcast_to(np.asarray(capacity, np.int64), (n,)).copy(),
        "role": np.broadcast_to(np.asarray(role, np.int64), (n,)).copy(),
    }


def _oldtown_half(
    rng: np.random.Generator, lx: float, ly: float, m: np.ndarray, major: np.ndarray
) -> dict[str, np.ndarray]:
    """Rows of small houses on narrow plots either side of the west-east lane; shops face the main roads."""
    x0, x1 = m[0], lx - m[1]
    xs, ys, ws, ds = [], [], [], []
    for y0, y1 in ((m[2], ly / 2 - LANE_CLEAR), (ly / 2 + LANE_CLEAR, ly - m[3])):
        y = y0 + rng.uniform(0.0, 1.5)
        while (depth := rng.uniform(8.0, 13.0)) <= y1 - y:
            w, gap = rng.uniform(6.0, 12.0, 32), rng.uniform(1.0, 2.5, 32)
            start = x0 + rng.uniform(0.0, 2.0) + np.concatenate([[0.0], np.cumsum(w + gap)[:-1]])
            ok = (start + w <= x1) & (rng.random(32) > 0.08)  # a few plots are yards or demolished
            d = depth * rng.uniform(0.75, 1.0, 32)
            xs.append((start + w / 2)[ok])
            ys.append((y + d / 2)[ok])
            ws.append(w[ok])
            ds.append(d[ok])
            y += depth + rng.uniform(1.2, 3.0) + (3.0 if rng.random() < 0.15 else 0.0)  # some rows have a 弄
    x, y, w, d = (np.concatenate(v) if v else np.zeros(0) for v in (xs, ys, ws, ds))
    n = len(x)
    near_major = (major[0] & (x - w / 2 < m[0] + 15)) | (major[1] & (x + w / 2 > lx - m[1] - 15))
    near_major |= (major[2] & (y - d / 2 < m[2] + 15)) | (major[3] & (y + d / 2 > ly - m[3] - 15))
    shop = rng.random(n) < np.where(near_major, 0.35, 0.08)
    floors = rng.choice([1, 2, 3], size=n, p=[0.15, 0.45, 0.4])
    capacity = np.minimum(3, floors + (w * d > 90))  # courtyard houses (墙门) are shared by families
    households = np.minimum(capacity, floors + (rng.random(n) < 0.3))
    return _spec(
        x,
        y,
        w,
        d,
        np.where(shop, np.minimum(floors, 2), floors),
        np.where(shop, 0, households),
        np.where(shop, 0, capacity),
        np.where(shop, SHOP, HOUSE),
    )


def _compound_half(
    rng: np.random.Generator, lx: float, ly: float, m: np.ndarray, high: bool, amenity: bool
) -> dict[str, np.ndarray]:
    """Rows of south-facing slabs (stairwells x 2 households x floors) spaced for winter sunlight; the
    top row may be a low service building (配套用房) instead."""
    x0, x1, y0, y1 = m[0] + 2, lx - m[1] - 2, m[2] + 2, ly - m[3] - 2  # +2: the compound wall
    # high-rise: 2 stairwells, deeper slabs, sunlight spacing of half the height (at least 20 m);
    # 6-7-floor walk-ups: 2-4 stairwells, spacing of the full height (Ningbo's winter-sun rule of thumb)
    floors = int(rng.choice([11, 12, 15, 18] if high else [6, 6, 7]))
    stairs = 2 if high else int(rng.choice([2, 3, 4]))
    depth = rng.uniform(12.0, 14.0) if high else rng.uniform(10.0, 12.0)
    spacing = max(20.0, 0.5 * floors * 2.9) if high else max(13.0, floors * 2.9)
    unit, gap, width = rng.uniform(12.0, 14.0), rng.uniform(8.0, 14.0), x1 - x0
    stairs = min(stairs, int(width // unit))
    if stairs < 1 or y1 - y0 < depth:
        return _spec([], [], [], [], [], [], [], [])
    length = stairs * unit
    slab_capacity = stairs * 2 * floors
    fit = int((y1 - y0 - depth) // (depth + spacing)) + 1
    # slabs per row and rows that house the most households under the half-cell cap
    options = [
        (min(fit, HALF_CELL_CAP // (k * slab_capacity)) * k, k)
        for k in range(1, max(1, int((width + gap) // (length + gap))) + 1)
    ]
    per_row = max(options)[1]
    rows = max(1, min(fit, HALF_CELL_CAP // (per_row * slab_capacity) + int(amenity)))
    pitch = (y1 - y0 - depth) / (rows - 1) if rows > 1 else 0.0  # spread the rows over the block
    row_y = y0 + depth / 2 + pitch * np.arange(rows)
    row_len = per_row * length + (per_row - 1) * gap
    row_x0 = x0 + rng.uniform(0, width - row_len, rows)
    xs = (row_x0[:, None] + length / 2 + np.arange(per_row) * (length + gap)).ravel()
    ys = np.repeat(row_y, per_row)
    capacity = np.full(len(xs), slab_capacity)
    households = capacity - rng.binomial(capacity, 0.05)  # a few flats stand empty
    spec = _spec(xs, ys, length, depth, floors, households, capacity, SLAB)
    if amenity:
        top = ys == row_y[-1]
        spec = {key: v[~top] for key, v in spec.items()}
        w = min(width, rng.uniform(18.0, 32.0))
        extra = _spec(
            [x0 + rng.uniform(0, width - w) + w / 2],
            [row_y[-1]],
            [w],
            [min(depth, 14.0)],
            [int(rng.integers(2, 4))],
            [0],
            [0],
            [AMENITY],
        )
        spec = {key: np.concatenate([spec[key], extra[key]]) for key in spec}
    return spec


def _campus_half(rng: np.random.Generator, lx: float, ly: float, m: np.ndarray, west: bool) -> dict[str, np.ndarray]:
    """A school, clinic or office compound: a few large low buildings and open ground (sports field)."""
    x0, x1, y0, y1 = m[0], lx - m[1], m[2], ly - m[3]
    count = int(rng.integers(1, 4)) if west or rng.random() < 0.7 else 0
    xs, ys, ws, ds = [], [], [], []
    y = y0 + rng.uniform(0.0, 10.0)
    for _ in range(count):
        w, d = min(x1 - x0, rng.uniform(25.0, 55.0)), rng.uniform(12.0, 18.0)
        if y + d > y1:
            break
        xs.append(x0 + rng.uniform(0, x1 - x0 - w) + w / 2)
        ys.append(y + d / 2)
        ws.append(w)
        ds.append(d)
        y += d + rng.uniform(15.0, 35.0)
    n = len(xs)
    return _spec(xs, ys, ws, ds, rng.integers(3, 7, n), 0, 0, CAMPUS)


def _commercial_half(
    rng: np.random.Generator, lx: float, ly: float, m: np.ndarray, west: bool
) -> dict[str, np.ndarray]:
    """Shops along the outer road and an office block behind them."""
    x0, x1, y0, y1 = m[0], lx - m[1], m[2], ly - m[3]
    depth = rng.uniform(10.0, 14.0)
    w, gap = rng.uniform(8.0, 14.0, 24), rng.uniform(1.0, 3.0, 24)
    start = y0 + np.concatenate([[0.0], np.cumsum(w + gap)[:-1]])
    ok = start + w <= y1
    n = int(ok.sum())
    shop_x = np.full(n, x0 + depth / 2 if west else x1 - depth / 2)
    shops = _spec(shop_x, (start + w / 2)[ok], np.full(n, depth), w[ok], rng.integers(1, 4, n), 0, 0, SHOP)
    side = rng.uniform(18.0, 28.0)
    room = (x0 + depth + 6, x1) if west else (x0, x1 - depth - 6)
    if room[1] - room[0] < side or y1 - y0 < side:
        return shops
    office = _spec(
        [rng.uniform(room[0] + side / 2, room[1] - side / 2)],
        [rng.uniform(y0 + side / 2, y1 - side / 2)],
        [side],
        [side],
        [int(rng.integers(6, 25))],
        [0],
        [0],
        [OFFICE],
    )
    return {key: np.concatenate([shops[key], office[key]]) for key in shops}


def _park_half(rng: np.random.Generator, lx: float, ly: float, m: np.ndarray) -> dict[str, np.ndarray]:
    """A pavilion or two: a park is mostly open ground."""
    n = int(rng.integers(0, 3))
    size = rng.uniform(5.0, 9.0, n)
    x = rng.uniform(m[0] + 5, lx - m[1] - 5, n)
    y = rng.uniform(m[2] + 5, ly - m[3] - 5, n)
    return _spec(x, y, size, size, 1, 0, 0, PAVILION)


def _bilinear(q: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at patch coordinates (s, t) in [0, 1]^2 of quadrilaterals q (n, 4, 2)."""
    s, t = s[:, None], t[:, None]
    return (1 - s) * (1 - t) * q[:, 0] + s * (1 - t) * q[:, 1] + s * t * q[:, 2] + (1 - s) * t * q[:, 3]


def _local_to_lattice(q: np.ndarray, size: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _bilinear(q, x / size[:, 0], y / size[:, 1])


def _footprints(q, size, x, y, w, d) -> np.ndarray:
    """Rectangles (n, 5, 2) centred on the mapped local points, turned with the block's west-east axis."""
    t = (y / size[:, 1])[:, None]
    centre = _local_to_lattice(q, size, x, y)
    ex = (1 - t) * (q[:, 1] - q[:, 0]) + t * (q[:, 2] - q[:, 3])
    ex /= np.linalg.norm(ex, axis=1, keepdims=True)
    ey = np.stack([-ex[:, 1], ex[:, 0]], axis=1)
    hw, hd = ex * (w / 2)[:, None], ey * (d / 2)[:, None]
    ring = [centre - hw - hd, centre + hw - hd, centre + hw + hd, centre - hw + hd, centre - hw - hd]
    return np.stack(ring, axis=1)


def _lane(lat: _Lattice, c: int) -> shapely.LineString:
    """The west-east lane of an old-town cell, through its centre."""
    i, j = divmod(c, lat.ny)
    return shapely.LineString([lat.mid_v[i, j], lat.centre[i, j], lat.mid_v[i + 1, j]])


def _first_of_overlaps(polys: np.ndarray) -> np.ndarray:
    """Keep-mask dropping the later of any two intersecting footprints (a safety net for warped blocks)."""
    keep = np.ones(len(polys), dtype=bool)
    if len(polys) < 2:
        return keep
    a, b = shapely.STRtree(polys).query(polys, predicate="intersects")
    keep[np.unique(np.maximum(a, b)[a != b])] = False
    return keep


def _cap_households(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drop the northernmost homes of a half cell holding more than HALF_CELL_CAP households."""
    keep = np.ones(len(b["x"]), dtype=bool)
    for h in np.unique(b["half"]):
        idx = np.flatnonzero((b["half"] == h) & (b["households"] > 0))
        idx = idx[np.argsort(b["y"][idx], kind="stable")]
        keep[idx[np.cumsum(b["households"][idx]) > HALF_CELL_CAP]] = False
    return {key: v[keep] for key, v in b.items()}


def _assemble_buildings(town: _Town) -> None:
    parts = []
    for c in range(town.n_cells):
        layout = dict(_cell_layout(town, c, int(town.uses[c])))
        layout["cell"] = np.full(len(layout["x"]), c)
        parts.append(layout)
    b = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    b["cxy"] = b["coords"][:, :4].mean(axis=1)
    b["comm"] = town.cell_comm[b["cell"]]
    b["street"] = np.array([r[4] for r in town.communities])[b["comm"]]
    b["use"] = town.uses[b["cell"]]
    b["residential"] = b["households"] > 0
    town.b = b
    town.cache = {}  # the layouts are assembled: free them


# -- compounds, names and grids -----------------------------------------------------------------------------


def _merge_compounds(town: _Town, rng: np.random.Generator) -> None:
    """Some neighbouring compound cells of a community form one large compound: the residential road
    between them becomes its internal footway."""
    lat, n = town.lattice, town.n_cells
    is_compound = np.isin(town.uses, COMPOUNDS)
    comp = np.full(n, -1)
    down_h = np.zeros((lat.nx, lat.ny + 1), dtype=bool)
    down_v = np.zeros((lat.nx + 1, lat.ny), dtype=bool)
    next_id = 0
    for c in np.flatnonzero(is_compound):
        if comp[c] >= 0:
            continue
        i, j = divmod(int(c), lat.ny)
        options = []
        if i + 1 < lat.nx and lat.v_kind[i + 1] == RESIDENTIAL:
            options.append((c + lat.ny, "v", i + 1, j))
        if j + 1 < lat.ny and lat.h_kind[j + 1] == RESIDENTIAL:
            options.append((c + 1, "h", i, j + 1))
        options = [
            o for o in options if is_compound[o[0]] and comp[o[0]] < 0 and town.cell_comm[o[0]] == town.cell_comm[c]
        ]
        comp[c] = next_id
        if options and rng.random() < 0.4:
            other, axis, oi, oj = options[int(rng.integers(len(options)))]
            comp[other] = next_id
            (down_v if axis == "v" else down_h)[oi, oj] = True
        next_id += 1
    town.compound_of_cell, town.down_h, town.down_v = comp, down_h, down_v


class _Namer:
    """Unique two-character place names in a seeded order, then three-character ones for large cities."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._names = self._shuffled([a + b for a in NAME_FIRST for b in NAME_SECOND if a != b])
        self._next = 0

    def _shuffled(self, names: list[str]) -> list[str]:
        return [names[k] for k in self._rng.permutation(len(names))]

    def __call__(self) -> str:
        if self._next == len(self._names):
            triples = [a + b + c for a in NAME_FIRST for b in NAME_SECOND for c in NAME_SECOND]
            self._names += self._shuffled([t for t in triples if len(set(t)) == 3])
        self._next += 1
        return self._names[self._next - 1]


def _name_places(town: _Town, rng: np.random.Generator) -> None:
    """Road, lane, community and compound names; streets get names from the Haishu list."""
    lat = town.lattice
    namer = town.namer = _Namer(rng)
    suffix = {PRIMARY: ("路",), SECONDARY: ("路", "街"), RESIDENTIAL: ("街", "路", "弄")}
    lines = [namer() + str(rng.choice(suffix[int(k)])) for k in np.concatenate([lat.h_kind, lat.v_kind])]
    lanes = [namer() + "巷" if u == OLDTOWN else None for u in town.uses]
    comms = [namer() + "社区" for _ in town.communities]
    n_compounds = int(town.compound_of_cell.max()) + 1
    first_cell = np.full(n_compounds, -1)
    for c in np.flatnonzero(town.compound_of_cell >= 0)[::-1]:
        first_cell[town.compound_of_cell[c]] = c
    compounds = []
    for c in first_cell:
        endings = ("花园", "苑", "家园", "公寓") if town.uses[c] == COMPOUND_HIGH else ("新村", "小区", "小区", "苑")
        compounds.append(namer() + str(rng.choice(endings)))
    streets = _street_names(town, namer)
    town.names = {"lines": lines + lanes, "communities": comms, "compounds": compounds, "streets": streets}
    town.comm_codes = _community_codes(town)


def _street_names(town: _Town, namer: _Namer) -> list[tuple[str, str]]:
    """(code, name) per street: codes ascending in reading order (north to south, west to east)."""
    chosen = list(STREETS[: len(town.streets)])
    for k in range(len(chosen), len(town.streets)):
        chosen.append((f"{k + 1:03d}", f"{namer()}街道"))
    chosen.sort()
    centres = np.array(
        [town.lattice.nodes[i0 : i1 + 1, j0 : j1 + 1].reshape(-1, 2).mean(0) for i0, i1, j0, j1 in town.streets]
    )
    order = _reading_order(town.to_world(centres), 600.0)
    out: list[tuple[str, str]] = [("", "")] * len(town.streets)
    for rank, s in enumerate(order):
        out[s] = (DISTRICT_CODE + chosen[rank][0], chosen[rank][1])
    return out


def _reading_order(xy: np.ndarray, row_tol: float) -> np.ndarray:
    """Indices left to right, top to bottom: rows of points within row_tol of the row's northernmost."""
    order = np.lexsort((xy[:, 0], -xy[:, 1]))
    rows = np.zeros(len(xy), dtype=int)
    row, top = 0, xy[order[0], 1] if len(xy) else 0.0
    for k in order:
        if top - xy[k, 1] > row_tol:
            row, top = row + 1, xy[k, 1]
        rows[k] = row
    return np.lexsort((xy[:, 0], rows))


def _serpentine(town: _Town, k: int, from_south: bool = False, from_east: bool = False) -> np.ndarray:
    """Half cells of community k along a path through its rows, alternately west-east and east-west.
    Consecutive half cells share a side, so any run of them is one connected piece."""
    i0, i1, j0, j1, _ = town.communities[k]
    ny, units = town.lattice.ny, []
    rows = range(j0, j1) if from_south else range(j1 - 1, j0 - 1, -1)
    for r, j in enumerate(rows):
        eastward = (r % 2 == 0) != from_east
        cols = range(i0, i1) if eastward else range(i1 - 1, i0 - 1, -1)
        sides = (0, 1) if eastward else (1, 0)
        units += [2 * (i * ny + j) + side for i in cols for side in sides]
    return np.array(units)


def _cut_grids(town: _Town) -> None:
    """Grids of each community: runs of half cells whose households lie in the grid range, preferring
    cuts along block boundaries over cuts through a block or a compound."""
    b, units_all = town.b, []
    hh_half = np.bincount(b["half"], weights=b["households"], minlength=2 * town.n_cells).astype(int)
    for k in range(len(town.communities)):
        best: tuple[float, list[np.ndarray]] | None = None
        for from_south, from_east in ((False, False), (False, True), (True, False), (True, True)):
            units = _serpentine(town, k, from_south, from_east)
            cells = units // 2
            compound = town.compound_of_cell[cells]
            cut_cost = np.zeros(len(units) + 1)
            cut_cost[1:-1] = np.where(cells[1:] == cells[:-1], 0.3, 0.0)  # through a block
            cut_cost[1:-1] += np.where((compound[1:] >= 0) & (compound[1:] == compound[:-1]), 0.3, 0.0)
            cost, runs = _split_runs(hh_half[units], cut_cost)
            if best is None or cost < best[0]:
                best = (cost, [units[a:z] for a, z in runs])
        assert best is not None  # four serpentines were tried
        for run in best[1]:
            _fit_households(b, run)
            units_all.append((k, run))
    town.grid_units = units_all


def _split_runs(hh: np.ndarray, cut_cost: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """Cut a sequence into consecutive runs with sums in the grid range, near its middle (dynamic programme).

    When no such cut exists, a run may exceed the range at a high cost (its homes then get some empty flats,
    see _fit_households); a run below the range costs far more, as nothing can fill it."""
    lo, hi = GRID_MIN_HOUSEHOLDS, GRID_MAX_HOUSEHOLDS
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    n = len(hh)
    csum = np.concatenate([[0], np.cumsum(hh)])
    best, back = np.full(n + 1, np.inf), np.zeros(n + 1, dtype=int)
    best[0] = 0.0
    for z in range(1, n + 1):
        s = csum[z] - csum[:z]  # sums of the runs a..z for every a < z
        over, under = np.maximum(s - hi, 0), np.maximum(lo - s, 0)
        miss = (10.0 + over / 10) * (over > 0) + (1e6 + under) * (under > 0)
        cost = best[:z] + np.minimum((s - mid) / half, 3.0) ** 2 + miss + cut_cost[z] * (z < n)
        back[z] = int(np.argmin(cost))
        best[z] = cost[back[z]]
    runs, z = [], n
    while z > 0:
        runs.append((int(back[z]), z))
        z = back[z]
    return float(best[n]), runs[::-1]


def _fit_households(b: dict[str, np.ndarray], run: np.ndarray) -> None:
    """Bring a grid into range if the cut could not: empty flats (or fill empty ones) in its homes."""
    idx = np.flatnonzero(np.isin(b["half"], run) & (b["capacity"] > 0))
    hh = b["households"]
    total = int(hh[idx].sum())
    if total > GRID_MAX_HOUSEHOLDS:
        step, room = -1, hh[idx] - 1
        need = total - GRID_MAX_HOUSEHOLDS + 10
    elif total < GRID_MIN_HOUSEHOLDS:
        step, room = 1, b["capacity"][idx] - hh[idx]
        need = GRID_MIN_HOUSEHOLDS + 10 - total
    else:
        return
    order = np.argsort(-room, kind="stable")
    while need > 0 and room[order].max() > 0:
        for k in order:
            if need > 0 and room[k] > 0:
                hh[idx[k]] += step
                room[k] -= 1
                need -= 1


# -- people and addresses ----------------------------------------------------------------------------------


def _populate(town: _Town, rng: np.random.Generator) -> None:
    """Resident ≈ 2.6 per household; old-town blocks let rooms to migrants, so floating population is large
    there; some registered residents live elsewhere (人户分离)."""
    b = town.b
    hh, n = b["households"], len(b["households"])
    b["residential"] = hh > 0
    resident = np.maximum(hh, np.round(hh * 2.6 * rng.lognormal(0.0, 0.15, n))).astype(int)  # 0 without homes
    share = np.where(b["use"] == OLDTOWN, rng.uniform(0.25, 0.8, n), rng.uniform(0.02, 0.25, n))
    floating = np.round(resident * share).astype(int)
    local = resident - floating
    b["resident"], b["floating"] = resident, floating
    b["registered"] = local + np.round(local * rng.uniform(0.0, 0.35, n)).astype(int)


def _address(town: _Town, rng: np.random.Generator) -> None:
    """Door numbers along each road (odd on one side, even on the other, in order along the road).

    A compound, campus or office block has one number at its gate and its buildings are numbered 1幢, 2幢 ...;
    a house or shop has its own number on the nearest road or lane.
    """
    b = town.b
    n = len(b["x"])
    grouped = np.isin(b["role"], (SLAB, AMENITY, CAMPUS, OFFICE, PAVILION))
    # a unit is a compound (one or two cells) or the campus of one cell
    unit_of_cell = np.where(
        town.compound_of_cell >= 0,
        town.compound_of_cell,
        town.compound_of_cell.max() + 1 + np.arange(town.n_cells),
    )
    unit = np.where(grouped, unit_of_cell[b["cell"]], -1)

    line, parity, pos = _nearest_line(town)
    single = np.flatnonzero(~grouped)
    items = [(int(line[k]), int(parity[k]), float(pos[k]), -1 - int(k)) for k in single]
    for u in np.unique(unit[grouped]):
        items.append((*_gate(town, np.flatnonzero(unit_of_cell == u), rng), int(u)))
    table = pd.DataFrame(items, columns=["line", "parity", "pos", "key"])
    table = table.sort_values(["line", "parity", "pos"], kind="stable")
    table["number"] = 2 * table.groupby(["line", "parity"]).cumcount() + 1 + table["parity"]
    number_of = dict(zip(table["key"], zip(table["line"], table["number"], strict=True), strict=True))

    # buildings of a unit in reading order: rows north to south, west to east within a row
    ordered = np.lexsort((b["cxy"][:, 0], -np.round(b["cxy"][:, 1] / 12.0), unit))
    first = np.r_[True, unit[ordered][1:] != unit[ordered][:-1]]
    seq = np.empty(n, dtype=int)
    seq[ordered] = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0)) + 1

    street_names = [name for _, name in town.names["streets"]]
    names, addresses, roads, doors = [], [], [], []
    for k in range(n):
        ln, num = number_of[int(unit[k]) if grouped[k] else -1 - k]
        roads.append(town.names["lines"][ln])
        doors.append(f"{roads[-1]}{num}号")
        place = f"{DISTRICT_NAME}{street_names[b['street'][k]]}{doors[-1]}"
        names.append(f"{seq[k]}幢" if grouped[k] else f"{num}号")
        addresses.append(f"{place}{seq[k]}幢" if grouped[k] else place)
    b["name"], b["address"], b["road"], b["door"] = names, addresses, roads, doors
    compound = town.compound_of_cell[b["cell"]]
    b["compound_name"] = [town.names["compounds"][c] if c >= 0 else None for c in compound]


def _nearest_line(town: _Town) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every building: the nearest named road or lane of its half cell, its side (0 odd, 1 even) and the
    building's position along it."""
    b, lat = town.b, town.lattice
    i, j = town.cell_ij(b["cell"])
    side = b["half"] % 2
    lx, ly = town.halves.size[b["half"]].T
    x, y = b["x"], b["y"]
    n_lines = lat.ny + 1 + lat.nx + 1
    lane_ok = b["use"] == OLDTOWN
    dist = np.stack([y, ly - y, np.where(side == 0, x, lx - x), np.where(lane_ok, np.abs(y - ly / 2), np.inf)], 1)
    pick = np.argmin(dist, axis=1)
    line = np.choose(pick, [j, j + 1, np.where(side == 0, lat.ny + 1 + i, lat.ny + 2 + i), n_lines + b["cell"]])
    parity = np.choose(pick, [np.zeros_like(i), np.ones_like(i), 1 - side, (y < ly / 2).astype(int)])
    pos = np.where(pick == 2, -b["cxy"][:, 1], b["cxy"][:, 0])  # numbers run west to east, north to south
    return line, parity, pos


def _gate(town: _Town, cells: np.ndarray, rng: np.random.Generator) -> tuple[int, int, float]:
    """(line, parity, position) of the gate of a compound or campus on one of its outer roads, preferring
    quieter roads."""
    lat = town.lattice
    options = []
    for c in cells:
        i, j = divmod(int(c), lat.ny)
        sides = (
            (j, 0, lat.mid_h[i, j, 0], lat.h_kind[j], town.down_h[i, j]),
            (j + 1, 1, lat.mid_h[i, j + 1, 0], lat.h_kind[j + 1], town.down_h[i, j + 1]),
            (lat.ny + 1 + i, 1, -lat.mid_v[i, j, 1], lat.v_kind[i], town.down_v[i, j]),
            (lat.ny + 2 + i, 0, -lat.mid_v[i + 1, j, 1], lat.v_kind[i + 1], town.down_v[i + 1, j]),
        )
        options += [(ln, par, p, kind) for ln, par, p, kind, down in sides if not down]
    weight = np.array([(1.0, 2.0, 3.0)[o[3]] for o in options])
    ln, par, p, _ = options[int(rng.choice(len(options), p=weight / weight.sum()))]
    return int(ln), int(par), float(p)


# -- facilities ---------------------------------------------------------------------------------------------

# Where each category goes, in order of preference: building roles, or open ground in cells of a use.
SITES = {
    "street_office": ("campus", "office"),
    "health_center": ("campus", "office"),
    "cultural_center": ("campus", "office", "amenity"),
    "middle_school": ("campus",),
    "primary_school": ("campus",),
    "sports_center": ("campus", "open_park"),
    "elderly_care_home": ("campus", "amenity", "office"),
    "post_office": ("shop", "office"),
    "bank": ("office", "shop"),
    "market": ("shop", "amenity"),
    "health_station": ("amenity", "shop"),
    "elderly_day_care": ("amenity", "shop"),
    "kindergarten": ("amenity", "campus", "shop"),
    "community_service_station": ("amenity", "shop", "office", "campus"),
    "convenience_store": ("shop", "amenity"),
    "park": ("open_park", "open_compound"),
    "fitness_ground": ("open_compound", "open_park"),
    "public_toilet": ("open_oldtown", "open_park"),
    "waste_station": ("open_compound", "open_oldtown"),
}
# Deliberately scarce and bunched in the west of each street, so coverage has gaps to find.
SPARSE = ("health_station", "elderly_day_care", "post_office", "sports_center")
ROLE_OF_SITE = {"campus": CAMPUS, "office": OFFICE, "amenity": AMENITY, "shop": SHOP}
USES_OF_SITE = {"open_park": (PARK,), "open_compound": COMPOUNDS, "open_oldtown": (OLDTOWN,)}


def _facility_counts(households: int, communities: int, parks: int) -> dict[str, int]:
    """About one facility per 150 households; a few per street of the 15-minute tier, many of the 5-minute."""

    def per(hh: int, minimum: int) -> int:
        return max(minimum, round(households / hh))

    return {
        "street_office": 1,
        "health_center": 1,
        "cultural_center": 1,
        "middle_school": per(10_000, 1),
        "primary_school": per(6_500, 2),
        "sports_center": 1,
        "elderly_care_home": per(12_000, 1),
        "post_office": 1,
        "bank": per(3_500, 2),
        "market": per(7_000, 2),
        "health_station": 2,
        "elderly_day_care": 2,
        "kindergarten": per(2_000, 3),
        "community_service_station": communities,
        "convenience_store": per(600, 5),
        "park": max(2, parks),
        "fitness_ground": per(1_500, 3),
        "public_toilet": per(1_500, 3),
        "waste_station": per(1_000, 4),
    }


def _place_facilities(town: _Town, rng: np.random.Generator) -> None:
    """Facilities of every category, street by street, in buildings of the right kind or on open ground."""
    b = town.b
    taken = np.zeros(len(b["x"]), dtype=bool)
    rows: list[tuple] = []
    for s, (i0, i1, _, _) in enumerate(town.streets):
        comms = [k for k, r in enumerate(town.communities) if r[4] == s]
        cells = np.flatnonzero(np.isin(town.cell_comm, comms))
        west = cells[town.cell_ij(cells)[0] < (i0 + i1) / 2]
        households = int(b["households"][b["street"] == s].sum())
        counts = _facility_counts(households, len(comms), int((town.uses[cells] == PARK).sum()))
        for category, count in counts.items():
            if category == "community_service_station":
                for k in comms:  # one in every community
                    rows.append(_site(town, category, cells[town.cell_comm[cells] == k], [], taken, rng))
                continue
            allowed = west if category in SPARSE else cells
            placed: list[np.ndarray] = []
            for _ in range(count):
                row = _site(town, category, allowed, placed, taken, rng)
                placed.append(row[1])
                rows.append(row)
    town.facilities = {key: [row[k] for row in rows] for k, key in enumerate(("category", "xy", "building", "cell"))}
    town.facilities.update(_facility_attributes(town, rng))


def _site(
    town: _Town,
    category: str,
    cells: np.ndarray,
    placed: list[np.ndarray],
    taken: np.ndarray,
    rng: np.random.Generator,
) -> tuple[str, np.ndarray, int, int]:
    """(category, local xy, building index or -1, cell) of the next facility of a category in these cells:
    a free building or open ground, away from the ones placed already."""
    b = town.b
    pool = np.flatnonzero(np.isin(b["cell"], cells))  # buildings are stored cell by cell
    for site in (*SITES[category], "open_any"):
        if site in ROLE_OF_SITE:
            cand = pool[~taken[pool] & (b["role"][pool] == ROLE_OF_SITE[site])]
            if site == "campus":  # one institution per campus: its largest building
                cand = _largest_per_cell(b, cand, taken[pool], pool)
            if len(cand):
                k = cand[_spread(b["cxy"][cand], placed, rng)]
                if site == "campus":
                    taken[pool[b["cell"][pool] == b["cell"][k]]] = True
                taken[k] = True
                return category, b["cxy"][k], int(k), int(b["cell"][k])
        else:
            usable = cells if site == "open_any" else cells[np.isin(town.uses[cells], USES_OF_SITE[site])]
            if len(usable):
                halves = np.concatenate([2 * usable, 2 * usable + 1])
                h = int(halves[_spread(_half_centres(town, halves), placed, rng)])
                return category, _open_point(town, h, rng), -1, h // 2
    raise AssertionError("open ground is always available")


def _largest_per_cell(
    b: dict[str, np.ndarray], cand: np.ndarray, pool_taken: np.ndarray, pool: np.ndarray
) -> np.ndarray:
    """The largest candidate of each cell none of whose buildings hosts a facility yet."""
    cand = cand[~np.isin(b["cell"][cand], b["cell"][pool[pool_taken]])]
    if not len(cand):
        return cand
    area = b["w"][cand] * b["d"][cand]
    order = np.lexsort((-area, b["cell"][cand]))
    first = np.r_[True, b["cell"][cand][order][1:] != b["cell"][cand][order][:-1]]
    return cand[order][first]


def _spread(xy: np.ndarray, placed: list[np.ndarray], rng: np.random.Generator) -> int:
    """Index of a candidate far from the facilities already placed (with some randomness)."""
    if not placed:
        return int(rng.integers(len(xy)))
    gap = np.min(np.linalg.norm(xy[:, None, :] - np.array(placed)[None, :, :], axis=2), axis=1)
    return int(np.argmax(gap * rng.uniform(0.6, 1.0, len(xy))))


def _half_centres(town: _Town, halves: np.ndarray) -> np.ndarray:
    return town.halves.corners[halves].mean(axis=1)


def _open_point(town: _Town, h: int, rng: np.random.Generator) -> np.ndarray:
    """A point on open ground of half cell h: beside the lane in old-town blocks, else beside the spine."""
    lx, ly = town.halves.size[h]
    if town.uses[h // 2] == OLDTOWN:
        x, y = rng.uniform(0.3, 0.7) * lx, ly / 2 + rng.choice([-2.0, 2.0])
    else:
        x, y = (lx - 2.0 if h % 2 == 0 else 2.0), rng.uniform(0.2, 0.8) * ly
    q = town.halves.corners[[h]]
    return _local_to_lattice(q, town.halves.size[[h]], np.array([x]), np.array([y]))[0]


def _facility_attributes(town: _Town, rng: np.random.Generator) -> dict[str, list]:
    """Chinese names, capacities and public or private operation of the placed facilities."""
    f = town.facilities
    out: dict[str, list] = {"name": [], "capacity": [], "public": []}
    seen: dict[str, int] = {}
    for category, building, cell in zip(f["category"], f["building"], f["cell"], strict=True):
        name = _facility_name(town, category, building, cell, rng)
        seen[name] = seen.get(name, 0) + 1
        k = seen[name]
        out["name"].append(name if k == 1 else f"{name}（{CHINESE_ORDINALS[k] if k < 10 else k}）")
        capacity, public = _capacity(category, rng)
        out["capacity"].append(capacity)
        out["public"].append(public)
    return out


def _cell_road(town: _Town, cell: int) -> str:
    lat = town.lattice
    if town.uses[cell] == OLDTOWN:
        return town.names["lines"][lat.ny + 1 + lat.nx + 1 + cell]
    return town.names["lines"][cell % lat.ny]


def _facility_name(town: _Town, category: str, building: int, cell: int, rng: np.random.Generator) -> str:
    """Named after the street, community, compound or road it serves, or a fresh place name."""
    names, namer = town.names, town.namer
    comm = names["communities"][town.cell_comm[cell]]
    street = names["streets"][town.communities[town.cell_comm[cell]][4]][1]
    road = town.b["road"][building] if building >= 0 else _cell_road(town, cell)
    door = town.b["door"][building] if building >= 0 else road
    compound = town.compound_of_cell[cell]
    place = names["compounds"][compound] if compound >= 0 else comm.removesuffix("社区")
    match category:
        case "street_office":
            return f"{street}办事处"
        case "health_center":
            return f"{street}社区卫生服务中心"
        case "cultural_center":
            return f"{street}文化活动中心"
        case "sports_center":
            return f"{namer()}体育馆"
        case "middle_school":
            return f"{namer()}中学"
        case "primary_school":
            return f"{namer()}小学"
        case "elderly_care_home":
            return f"{namer()}颐养院"
        case "post_office":
            return f"中国邮政{road}营业所"
        case "bank":
            return f"{rng.choice(BANKS)}{namer()}支行"
        case "market":
            return f"{namer()}{rng.choice(['菜场', '农贸市场', '生鲜超市'])}"
        case "health_station":
            return f"{comm}卫生服务站"
        case "elderly_day_care":
            return f"{comm}日间照料中心"
        case "kindergarten":
            return f"{namer()}幼儿园"
        case "community_service_station":
            return f"{comm}服务站"
        case "convenience_store":
            return f"{rng.choice(STORES)}（{door}店）"
        case "park":
            return f"{namer()}公园"
        case "fitness_ground":
            return f"{place}健身点"
        case "public_toilet":
            return f"{road}公厕"
        case _:
            return f"{place}垃圾收集点"


def _capacity(category: str, rng: np.random.Generator) -> tuple[int | None, bool]:
    """(places, beds or seats; None where capacity is not counted) and whether it is publicly run."""
    capacity = {
        "kindergarten": lambda: 30 * int(rng.integers(6, 13)),
        "primary_school": lambda: 45 * int(rng.integers(18, 37)),
        "middle_school": lambda: 50 * int(rng.integers(18, 37)),
        "elderly_care_home": lambda: 10 * int(rng.integers(6, 31)),
        "elderly_day_care": lambda: 10 * int(rng.integers(2, 7)),
        "sports_center": lambda: 100 * int(rng.integers(8, 31)),
    }.get(category)
    public_share = {
        "kindergarten": 0.6,
        "primary_school": 0.9,
        "middle_school": 0.9,
        "elderly_care_home": 0.5,
        "market": 0.4,
        "bank": 0.0,
        "convenience_store": 0.0,
    }.get(category, 1.0)
    return (capacity() if capacity else None), bool(rng.random() < public_share)


# -- network and frames -------------------------------------------------------------------------------------


def _network(town: _Town) -> tuple[np.ndarray, list[str | None], list[str]]:
    """Edges (m, 2, 2) of the walking network, noded by construction: roads split at node and midpoints,
    spines and lanes meeting them there and each other at the cell centre."""
    lat = town.lattice
    p, mh, mv, x = lat.nodes, lat.mid_h, lat.mid_v, lat.centre
    lines = town.names["lines"]
    coords, names, kinds = [], [], []

    def add(a: np.ndarray, z: np.ndarray, name: np.ndarray, kind: np.ndarray) -> None:
        coords.append(np.stack([a, z], axis=-2).reshape(-1, 2, 2))
        names.extend(name.ravel().tolist())
        kinds.extend(kind.ravel().tolist())

    for a, z in ((p[:-1, :], mh), (mh, p[1:, :])):  # horizontal roads
        kind = np.where(town.down_h, FOOTWAY, np.broadcast_to(lat.h_kind[None, :], town.down_h.shape))
        name = np.where(town.down_h, NULL, np.array(lines[: lat.ny + 1], dtype=object)[None, :])
        add(a, z, name, kind)
    for a, z in ((p[:, :-1], mv), (mv, p[:, 1:])):  # vertical roads
        kind = np.where(town.down_v, FOOTWAY, np.broadcast_to(lat.v_kind[:, None], town.down_v.shape))
        name = np.where(town.down_v, NULL, np.array(lines[lat.ny + 1 : lat.ny + lat.nx + 2], dtype=object)[:, None])
        add(a, z, name, kind)
    none = np.full(x.shape[:2], None, dtype=object)
    footway = np.full(x.shape[:2], FOOTWAY)
    add(mh[:, :-1], x, none, footway)  # spines
    add(x, mh[:, 1:], none, footway)
    lane = (town.uses == OLDTOWN).reshape(x.shape[:2])
    lane_names = np.array(lines[lat.ny + lat.nx + 2 :], dtype=object).reshape(x.shape[:2])
    add(mv[:-1][lane], x[lane], lane_names[lane], footway[lane])
    add(x[lane], mv[1:][lane], lane_names[lane], footway[lane])
    return np.concatenate(coords), names, [KIND_NAMES[k] for k in kinds]


def _frames(town: _Town) -> District:
    b = town.b
    buildings = _frame(
        town,
        {
            "name": b["name"],
            "address": b["address"],
            "compound": pd.Series(b["compound_name"], dtype=object),
            "floors": b["floors"],
            "residential": b["residential"],
            "households": b["households"],
            "population_resident": b["resident"],
            "population_registered": b["registered"],
            "population_floating": b["floating"],
        },
        shapely.polygons(b["coords"]),
    )
    f = town.facilities
    facilities = _frame(
        town,
        {
            "name": f["name"],
            "category": f["category"],
            "capacity": pd.Series(f["capacity"], dtype=object),  # int or None, as Python objects
            "public": np.array(f["public"], dtype=bool),
        },
        shapely.points(np.stack(f["xy"])),
    )
    edges, edge_names, kinds = _network(town)
    network = _frame(town, {"name": pd.Series(edge_names, dtype=object), "kind": kinds}, shapely.linestrings(edges))
    return District(*_areas(town), buildings, facilities, network, _grids(town))


def _frame(town: _Town, columns: dict, geoms: np.ndarray, order: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """A layer in EPSG:4326 from local-metre geometries, rows optionally reordered."""
    world = gpd.GeoDataFrame(columns, geometry=shapely.transform(geoms, town.to_world), crs=METRIC_CRS)
    if order is not None:
        world = world.iloc[order].reset_index(drop=True)
    return world.to_crs(STORAGE_CRS)


def _community_polygons(town: _Town) -> list[shapely.Polygon]:
    halves = np.repeat(town.cell_comm, 2)
    return [shapely.coverage_union_all(town.halves.polygon[halves == k]) for k in range(len(town.communities))]


def _areas(town: _Town) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """District, streets and communities: coverage unions of the same half cells, so they tile exactly."""
    polygon, names = town.halves.polygon, town.names
    street_of_half = np.repeat([town.communities[k][4] for k in town.cell_comm], 2)
    district = _frame(
        town,
        {"code": [DISTRICT_CODE], "name": [DISTRICT_NAME]},
        np.array([shapely.coverage_union_all(polygon)]),
    )
    street_codes = [code for code, _ in names["streets"]]
    streets = _frame(
        town,
        {
            "code": street_codes,
            "name": [name for _, name in names["streets"]],
            "district_code": DISTRICT_CODE,
        },
        np.array([shapely.coverage_union_all(polygon[street_of_half == s]) for s in range(len(town.streets))]),
        np.argsort(street_codes, kind="stable"),
    )
    communities = _frame(
        town,
        {
            "code": town.comm_codes,
            "name": names["communities"],
            "street_code": [names["streets"][r[4]][0] for r in town.communities],
        },
        np.array(_community_polygons(town)),
        np.argsort(town.comm_codes, kind="stable"),
    )
    return district, streets, communities


def _grids(town: _Town) -> gpd.GeoDataFrame:
    polys = np.array([shapely.coverage_union_all(town.halves.polygon[units]) for _, units in town.grid_units])
    comm = np.array([k for k, _ in town.grid_units])
    codes = _grid_codes(town, polys, comm, town.comm_codes)
    names = [f"{town.names['communities'][k]}第{code[-2:]}网格" for k, code in zip(comm, codes, strict=True)]
    columns = {"code": codes, "name": names, "community_code": town.comm_codes[comm]}
    return _frame(town, columns, polys, np.argsort(codes, kind="stable"))


def _community_codes(town: _Town) -> np.ndarray:
    """Street code + 001, 002 ... in reading order within each street."""
    codes = np.empty(len(town.communities), dtype=object)
    centres = town.to_world(
        np.array(
            [town.lattice.centre[i0:i1, j0:j1].reshape(-1, 2).mean(axis=0) for i0, i1, j0, j1, _ in town.communities]
        )
    )
    street = np.array([r[4] for r in town.communities])
    for s in range(len(town.streets)):
        members = np.flatnonzero(street == s)
        for rank, k in enumerate(members[_reading_order(centres[members], 250.0)]):
            codes[k] = f"{town.names['streets'][s][0]}{rank + 1:03d}"
    return codes


def _grid_codes(town: _Town, polys: np.ndarray, grid_comm: np.ndarray, comm_codes: np.ndarray) -> np.ndarray:
    """CJ/T 349: service code + community code + sequence, numbered left to right, top to bottom."""
    codes = np.empty(len(polys), dtype=object)
    centres = town.to_world(shapely.get_coordinates(shapely.centroid(polys)))
    for k in range(len(town.communities)):
        members = np.flatnonzero(grid_comm == k)
        for rank, g in enumerate(members[_reading_order(centres[members], MEAN_CELL_SIDE / 2)]):
            codes[g] = f"{SERVICE_CODE}{comm_codes[k]}{rank + 1:02d}"
    return codes
