"""PostGIS's `ST_Distance(polygon::geography, point::geography)` in process, for the locate answer of a point
in no grid (gis.locate.published).

The database answers such a point with the nearest of the five grids nearest by planar distance in lon/lat
(`<->`), re-ranked by geodesic distance (gis.locate.point, LOCATE_SQL). PostGIS computes that distance in two
steps (liblwgeom/lwgeodetic.c, `edge_distance_to_point` and `spheroid_distance`): on the unit sphere it finds the
point of the polygon's rings nearest to the point — the foot of the perpendicular on an edge's great circle when
it falls within the edge, else the nearer end — and then measures the distance to that point on the WGS 84
spheroid with GeographicLib's `geod_inverse` (the one in PROJ, which pyproj calls too). This module does the same.

Floating point can differ from the server's in the last bits, so an answer is only given when such differences
cannot change it: no near tie between grids or between edges, not within a micrometre of a rounding boundary
(the answer rounds to centimetres) or of the snap distance, not within a millimetre of a grid. Otherwise `None`:
the database answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod

from gis.geo.rings import ring_edges

# The spheroid of SRID 4326 as PostGIS sets it up from the datum (a, b; f = (a - b) / a).
WGS84_A = 6378137.0
WGS84_B = 6356752.314245179
GEOD = Geod(a=WGS84_A, b=WGS84_B)
MEAN_RADIUS = (2 * WGS84_A + WGS84_B) / 3  # only to turn guard lengths into angles
# The least radius of curvature of the spheroid (the meridian's at the equator, a(1 - e²)), with a margin: an angle
# between two lon/lat positions times this is less than their distance on the spheroid.
LEAST_RADIUS = 0.999 * WGS84_B**2 / WGS84_A

NEAREST = 5  # LOCATE_SQL re-ranks this many grids nearest by `<->`
TIE_M = 1e-6  # distances closer than this might be ordered differently by the server
NEAR_GRID_M = 1e-3  # a point this close to a grid may be inside it on the sphere: the database decides
EDGE_TIE_RAD = 1e-12  # two different nearest points this close in angle (~6 µm): ambiguous
SAME_POINT_RAD = 1e-9  # nearest points closer than this are the same point for the tie test


@dataclass(frozen=True)
class Edges:
    """A polygon's ring edges on the unit sphere, prepared once."""

    start: np.ndarray  # (m, 3) unit vectors of the edges' first points
    end: np.ndarray  # (m, 3) unit vectors of the edges' last points
    start_deg: np.ndarray  # (m, 2) lon, lat in degrees
    end_deg: np.ndarray  # (m, 2)
    normal: np.ndarray  # (m, 3) unit normals of the edges' great circles
    centre: np.ndarray  # (m, 3) unit bisectors of the edges
    cone: np.ndarray  # (m,) start · centre: the least similarity to the bisector of a point on the edge
    cap_centre: np.ndarray  # (3,) a spherical cap holding the polygon (its edges too: caps under 90° are convex)
    cap_radius: float  # radians

    def least_metres(self, p: np.ndarray) -> float:
        """A lower bound of the distance from unit vector p to the polygon, in metres on the spheroid."""
        angle = math.acos(max(-1.0, min(1.0, float(self.cap_centre @ p)))) - self.cap_radius
        return max(0.0, angle) * LEAST_RADIUS


def _cartesian(lon_rad: np.ndarray, lat_rad: np.ndarray) -> np.ndarray:
    cos_lat = np.cos(lat_rad)
    return np.column_stack([cos_lat * np.cos(lon_rad), cos_lat * np.sin(lon_rad), np.sin(lat_rad)])


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.sqrt((v * v).sum(axis=1))
    norm[norm == 0] = 1.0
    return v / norm[:, None]


def edges_of(polygon: shapely.Geometry) -> Edges:
    """The edges of every ring of a (multi)polygon in lon/lat degrees; zero-length edges dropped."""
    a, b, _ = ring_edges(np.array([polygon], dtype=object))
    keep = np.any(a != b, axis=1)
    a, b = a[keep], b[keep]
    lon1, lat1, lon2, lat2 = (np.radians(c) for c in (a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
    # robust_cross_product of lwgeodetic.c: accurate for short edges, where a plain cross product cancels.
    lon_qpp, lon_qmp = (lon2 + lon1) / -2.0, (lon2 - lon1) / 2.0
    s_minus, s_plus = np.sin(lat1 - lat2), np.sin(lat1 + lat2)
    normal = np.column_stack(
        [
            s_minus * np.sin(lon_qpp) * np.cos(lon_qmp) - s_plus * np.cos(lon_qpp) * np.sin(lon_qmp),
            s_minus * np.cos(lon_qpp) * np.cos(lon_qmp) + s_plus * np.sin(lon_qpp) * np.sin(lon_qmp),
            np.cos(lat1) * np.cos(lat2) * np.sin(lon2 - lon1),
        ]
    )
    start, end = _cartesian(lon1, lat1), _cartesian(lon2, lat2)
    centre = _unit(start + end)
    cap_centre = _unit(start.sum(axis=0)[None, :])[0]
    cap_radius = float(np.arccos(np.clip(start @ cap_centre, -1.0, 1.0)).max()) + 1e-9
    return Edges(start, end, a, b, _unit(normal), centre, (start * centre).sum(axis=1), cap_centre, cap_radius)


def _chord2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Squared chord lengths between unit vector p and rows of q: monotone in the angle, and no trigonometry."""
    d = q - p
    return (d * d).sum(axis=1)


def nearest_on_sphere(edges: Edges, p: np.ndarray) -> tuple[float, tuple[float, float], bool, bool]:
    """The angle to the nearest point of the rings on the sphere, that point (lon, lat degrees), whether it is a
    vertex, and whether another, different point is nearly as near (then the server could pick either)."""
    k = _unit(p[None, :] - (edges.normal @ p)[:, None] * edges.normal)
    in_cone = (k * edges.centre).sum(axis=1)
    on_edge = (in_cone > edges.cone) | (np.abs(in_cone - edges.cone) < 2e-16)
    d_foot = np.where(on_edge, _chord2(p, k), np.inf)
    d_start, d_end = _chord2(p, edges.start), _chord2(p, edges.end)
    # Per edge as edge_distance_to_point: the foot, replaced by an end that is strictly nearer.
    best = np.minimum(np.minimum(d_foot, d_start), d_end)
    choice = np.where(d_start < d_foot, 1, 0)
    choice = np.where(d_end < np.minimum(d_foot, d_start), 2, choice)
    i = int(np.argmin(best))
    # Only edges about as near can make a tie; chord → angle there (2 asin(c / 2)).
    close = np.flatnonzero(best <= best[i] * (1 + 1e-6))
    kinds = choice[close][:, None]
    points = np.where(kinds == 0, k[close], np.where(kinds == 1, edges.start[close], edges.end[close]))
    angles = 2 * np.arcsin(np.sqrt(best[close]) / 2)
    angle = float(2 * math.asin(math.sqrt(best[i]) / 2))
    apart = 2 * np.arcsin(np.sqrt(_chord2(points[close == i][0], points)) / 2)
    ambiguous = bool(np.any((apart > SAME_POINT_RAD) & (angles - angle < EDGE_TIE_RAD)))
    if choice[i] == 1:
        lon, lat = edges.start_deg[i]
    elif choice[i] == 2:
        lon, lat = edges.end_deg[i]
    else:
        x, y, z = k[i]
        lon, lat = math.degrees(math.atan2(y, x)), math.degrees(math.asin(max(-1.0, min(1.0, z))))
    return angle, (float(lon), float(lat)), bool(choice[i] != 0), ambiguous


def point_vector(lon: float, lat: float) -> np.ndarray:
    lon_r, lat_r = math.radians(lon), math.radians(lat)
    return np.array([math.cos(lat_r) * math.cos(lon_r), math.cos(lat_r) * math.sin(lon_r), math.sin(lat_r)])


@dataclass(frozen=True)
class Nearest:
    metres: float  # as PostGIS's geography distance gives them
    vertex: tuple[float, float] | None  # the nearest point when it is a vertex (lon, lat as stored)


def distance_m(edges: Edges, lon: float, lat: float, p: np.ndarray) -> Nearest | None:
    """From (lon, lat) to the polygon as PostGIS's geography distance measures it; None when ambiguous."""
    angle, (near_lon, near_lat), is_vertex, ambiguous = nearest_on_sphere(edges, p)
    if ambiguous or angle * MEAN_RADIUS < NEAR_GRID_M:
        return None
    _, _, metres = GEOD.inv(lon, lat, near_lon, near_lat)
    return Nearest(float(metres), (near_lon, near_lat) if is_vertex else None)


def least_metres_per_degree(lat: float, south: float, north: float) -> float:
    """A lower bound of the metres per degree of planar lon/lat distance between a point at `lat` and grids between
    `south` and `north`, for distances under a degree (a degree of longitude shrinks with the latitude's cosine)."""
    widest = min(89.0, max(abs(lat), abs(south), abs(north)))
    return 0.99 * min(110_574.0, 111_320.0 * math.cos(math.radians(widest)))


def rounding_is_safe(metres: float, snap_m: float) -> bool:
    """False where a difference in the last bits could change the answer: the centimetre rounding, the snap rule."""
    centimetres = metres * 100
    if abs(centimetres - math.floor(centimetres) - 0.5) < TIE_M * 100:
        return False
    return abs(metres - snap_m) >= TIE_M
