"""Assigning many points at once against the current plan: vectorised, never a loop of single lookups.

The plan's grids are loaded once into an in-process GridLocator (a lookup raster in front of an exact
STRtree), kept per published plan and version: a base-data change refreshes the published plan's grids and bumps
its version (gis/plans/unit_changes.refresh_plans), and publishing bumps it too, so an index is used only while
the plan is exactly as it was loaded. The key also holds the transaction that wrote the plan's row (xmin): a
version number can come back after a rollback, that transaction cannot. One indexed row per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
from numpy.typing import ArrayLike
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict
from gis.geo import dataset
from gis.geo.coordinates import to_wgs84
from gis.locate.index import GridLocator
from gis.plans.store import current_plan_id

# (database, plan id) → (plan version and row xmin, locator, grids): one entry per plan, replaced when it changes.
_LOCATORS: dict[tuple[str, int], tuple[tuple[int, str], GridLocator, gpd.GeoDataFrame]] = {}


@dataclass(frozen=True)
class Assignment:
    plan_id: int
    grid_id: np.ndarray  # -1 where no grid
    grid_code: np.ndarray
    community_code: np.ndarray
    street_code: np.ndarray
    status: np.ndarray  # inside | snapped | outside
    distance_m: np.ndarray

    def counts(self) -> dict[str, int]:
        values, counts = np.unique(self.status, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}

    def records(self) -> list[dict[str, Any]]:
        """One plain record per point, in input order (grid_id None where no grid)."""
        return [
            {
                "grid_id": int(g) if g >= 0 else None,
                "grid_code": code,
                "community_code": community,
                "street_code": street,
                "status": str(status),
                "distance_m": float(distance),
            }
            for g, code, community, street, status, distance in zip(
                self.grid_id,
                self.grid_code,
                self.community_code,
                self.street_code,
                self.status,
                self.distance_m,
                strict=True,
            )
        ]


def _plan_version(session: Session, plan_id: int) -> tuple[int, str]:
    """The plan's version and the transaction that last wrote its row: together they name its grids' state."""
    row = session.execute(
        text("SELECT version, xmin::text AS written_by FROM grid_plans WHERE id = :id"), {"id": plan_id}
    ).one()
    return int(row.version), str(row.written_by)


def _locator(session: Session, plan_id: int) -> tuple[GridLocator, gpd.GeoDataFrame]:
    key = (str(session.get_bind().engine.url.database), plan_id)
    version = _plan_version(session, plan_id)
    cached = _LOCATORS.get(key)
    if cached is None or cached[0] != version:
        grids = gpd.read_postgis(
            text("""SELECT g.id, g.code, c.code AS community_code, s.code AS street_code, g.geom
                    FROM grids g LEFT JOIN communities c ON c.id = g.community_id
                    LEFT JOIN streets s ON s.id = c.street_id WHERE g.plan_id = :plan ORDER BY g.code"""),
            session.connection(),
            geom_col="geom",
            params={"plan": plan_id},
            crs=4326,
        )
        if grids.empty:
            raise Conflict(f"the published plan {plan_id} has no grids", where="plan")
        # Lowest code wins on shared edges: the same rule as a single lookup (gis.locate.point).
        locator = GridLocator(grids.geometry, metric_crs=dataset.metric_epsg(session), order=grids["code"].tolist())
        _LOCATORS[key] = cached = (version, locator, grids)
    return cached[1], cached[2]


def assign_points(
    session: Session, x: ArrayLike, y: ArrayLike, *, crs: str = "wgs84", snap_m: float = 50.0
) -> Assignment:
    """Grid, community and street of every point (coordinates in `crs`), against the current plan."""
    plan_id = current_plan_id(session)
    if plan_id is None:
        raise Conflict("there is no published grid plan to assign against", where="plan")
    lon, lat = to_wgs84(x, y, crs, where="points")
    locator, grids = _locator(session, plan_id)
    found = locator.locate(np.atleast_1d(lon), np.atleast_1d(lat), snap_m=snap_m)
    hit = found.grid >= 0
    pick = np.where(hit, found.grid, 0)

    def column(name: str) -> np.ndarray:
        values = grids[name].to_numpy(dtype=object)[pick]
        values[~hit] = None
        return values

    ids = np.where(hit, grids["id"].to_numpy()[pick], -1)
    return Assignment(
        plan_id,
        ids,
        column("code"),
        column("community_code"),
        column("street_code"),
        found.status,
        np.round(found.distance_m, 2),
    )
