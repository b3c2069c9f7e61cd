"""The planner's edits as typed commands (cosmic-python): what the router and the CLI build, what
gis.plans.edits.handle carries out, and what the operation log stores (`payload()`).

Commands are plain values: grid and building ids, geometries in WGS 84 (shapely, already checked by
gis.geo.user_geometry), the household band. They hold no session and do no work. The log keeps a command's
`payload()` beside the outcome of the edit, so it reads the same whoever sent the edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import shapely


def _geojson(geometry: shapely.Geometry) -> dict[str, Any]:
    """A geometry as a GeoJSON object of plain lists (the log is JSON), without importing shapely here."""

    def plain(value: Any) -> Any:
        return [plain(v) for v in value] if isinstance(value, list | tuple) else value

    interface = geometry.__geo_interface__
    return {"type": interface["type"], "coordinates": plain(interface["coordinates"])}


@dataclass(frozen=True)
class Merge:
    """Adjacent grids become the first one (which keeps its code); the others are removed."""

    grids: tuple[int, ...]
    kind: ClassVar[str] = "merge"

    def payload(self) -> dict[str, Any]:
        return {"grids": list(self.grids)}


@dataclass(frozen=True)
class Split:
    """A line across a grid cuts it; each unit joins the piece its representative point lies in."""

    grid: int
    line: shapely.LineString
    kind: ClassVar[str] = "split"

    def payload(self) -> dict[str, Any]:
        return {"grid": self.grid, "line": _geojson(self.line)}


@dataclass(frozen=True)
class Redraw:
    """The units whose representative point lies in the polygon join the grid."""

    grid: int
    polygon: shapely.Geometry  # a Polygon, or the MultiPolygon a self-crossing drawing was repaired into
    kind: ClassVar[str] = "redraw"

    def payload(self) -> dict[str, Any]:
        return {"grid": self.grid, "polygon": _geojson(self.polygon)}


@dataclass(frozen=True)
class Reassign:
    """The units of the buildings join the grid."""

    grid: int
    buildings: tuple[int, ...]
    kind: ClassVar[str] = "reassign"

    def payload(self) -> dict[str, Any]:
        return {"grid": self.grid, "buildings": list(self.buildings)}


@dataclass(frozen=True)
class Balance:
    """Repartition a community (by code) or chosen grids into contiguous grids within the household band."""

    community: str | None = None
    grids: tuple[int, ...] | None = None
    min_households: int = 300
    max_households: int = 500
    seed: int = 0
    # Balance the load of managing each grid (gis/plans/workload.py): (part, weight) pairs of households,
    # incidents (of the last `months` months) and patrol_m (walking network inside); None: households only.
    weights: tuple[tuple[str, float], ...] | None = None
    months: int = 6
    # From a preview (gis/plans/balance_preview.py): the edit must give exactly the previewed grids, else 409.
    token: str | None = None
    kind: ClassVar[str] = "balance"

    def payload(self) -> dict[str, Any]:
        return {
            "community": self.community,
            "grids": list(self.grids) if self.grids is not None else None,
            "min_households": self.min_households,
            "max_households": self.max_households,
            "seed": self.seed,
            **({"weights": dict(self.weights), "months": self.months} if self.weights else {}),
        }


@dataclass(frozen=True)
class Renumber:
    """Standard codes for every grid, by a code layout of data/code_layouts.toml (default: the plan's)."""

    layout: str | None = None
    kind: ClassVar[str] = "renumber"

    def payload(self) -> dict[str, Any]:
        return {"layout": self.layout}


@dataclass(frozen=True)
class Undo:
    """Apply the inverse of the newest edit not yet undone (the log itself says what that was)."""

    kind: ClassVar[str] = "undo"

    def payload(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Redo:
    """Apply again the edit the newest undo took back, while no other edit came after that undo."""

    kind: ClassVar[str] = "redo"

    def payload(self) -> dict[str, Any]:
        return {}


Command = Merge | Split | Redraw | Reassign | Balance | Renumber | Undo | Redo
