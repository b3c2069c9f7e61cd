"""Walking coverage (生活圈): runs, coverage tables, gaps, site suggestions, catchments, facility edits and reach.

Response models mirror the dictionaries gis/coverage returns, key for key: they document the answers and check
them, and never add or drop a key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from api.schemas.common import Timestamp
from gis.coverage.sites import MAX_SITES

# A time read from the database, leaving the server as Python's ISO 8601 with the offset (as before it was typed).
DbTime = Annotated[
    datetime,
    PlainSerializer(lambda t: t.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Mode = Literal["time", "distance"]
# A GeoJSON (RFC 7946) polygon in WGS 84 as PostGIS or shapely wrote it: documented, passed through unchanged.
Area = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": "GeoJSON geometry (RFC 7946), WGS 84",
            "properties": {"type": {"enum": ["Polygon", "MultiPolygon"]}, "coordinates": {"type": "array"}},
            "required": ["type", "coordinates"],
        }
    ),
]


# -- requests --------------------------------------------------------------------------------------------------


class RunRequest(BaseModel):
    categories: list[str] | None = Field(None, description="categories to recompute; all when omitted")


class Candidates(BaseModel):
    category: str
    minutes: int | None = Field(None, ge=1, le=120)
    k: int = Field(5, ge=1, le=MAX_SITES)
    mode: Mode = "time"
    speed: float | None = Field(None, gt=0, le=3)
    candidates: list[tuple[float, float]] = Field(..., min_length=1, max_length=100_000, description="[lon, lat]")


class FacilityIn(BaseModel):
    category: str | None = None
    name: str | None = None
    address: str | None = None
    capacity: int | None = Field(None, ge=0, le=2**31 - 1)  # an integer column
    public: bool | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"


# -- runs ------------------------------------------------------------------------------------------------------


class RunQueued(BaseModel):
    """A run accepted for the background: watch it at `href`."""

    id: int
    status: Literal["queued"]
    href: str


class RunReport(BaseModel):
    """What a run did (gis.coverage.compute.CoverageReport)."""

    run_id: int
    network_version: int
    categories: list[str]
    max_snap_m: float
    edges: int
    buildings: int
    facilities: int
    unsnapped: dict[str, list[int]] = Field(description="buildings / facilities: ids beyond the snap distance")
    minor_component: dict[str, list[int]] = Field(description="buildings / facilities: ids on minor components")
    per_category: dict[str, dict[str, int]]
    seconds: dict[str, float] = Field(description="time per stage")
    data_versions: dict[str, int] = Field(
        default_factory=dict,
        description="per category: the data version the run started from (empty for runs before versions existed)",
    )


class CoverageRun(BaseModel):
    id: int
    status: Literal["queued", "running", "done", "failed"]
    categories: list[str] | None = Field(description="categories asked for; null: all")
    actor: str
    stage: str | None
    progress: float = Field(description="0..1")
    created_at: DbTime
    started_at: DbTime | None
    finished_at: DbTime | None
    report: RunReport | None = Field(description="when done")
    error: str | None = Field(description="when failed")


class PendingRun(BaseModel):
    """The run on its way to refresh stale figures: watch it at /api/coverage/runs/{id}."""

    id: int
    status: Literal["queued", "running"]
    stage: str | None
    progress: float = Field(description="0..1")


class RunSummary(BaseModel):
    """The run coverage figures come from; `stale` while figures of some categories predate a change of their
    facilities, of the buildings or of the walking network, until a run covering them finishes."""

    id: int
    finished_at: Timestamp | None
    network_version: int | None
    stale: bool
    stale_categories: list[str] = Field(description="categories whose figures are out of date (registry order)")
    pending: PendingRun | None = Field(description="the run that will refresh them; null when none is queued")


# -- coverage figures ------------------------------------------------------------------------------------------


class CoverageArea(BaseModel):
    id: int | None = Field(description="0 for the whole area; null for buildings outside every area")
    code: str | None
    name: str | None


class CoverageRow(BaseModel):
    area: CoverageArea
    category: str = Field(description="a facility category, or tier_complete")
    category_name: str
    minutes: int
    threshold_m: float
    buildings: int
    buildings_covered: int
    building_coverage: float | None
    households: int
    households_covered: int
    household_coverage: float | None


class CoverageTable(BaseModel):
    level: Literal["all", "street", "community", "grid"]
    mode: Mode
    speed_mps: float
    run: RunSummary | None
    rows: list[CoverageRow]


class GapProperties(BaseModel):
    id: int
    name: str | None
    address: str | None
    households: int
    distance_m: float | None
    facility_id: int | None
    community_code: str | None
    grid_code: str | None
    reason: Literal["too_far", "unreachable", "not_on_network"]


class GapFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: Area = Field(description="the building's footprint")
    properties: GapProperties


class Gaps(BaseModel):
    """Residential buildings that do not reach the category in time (GeoJSON FeatureCollection), a page."""

    type: Literal["FeatureCollection"]
    category: str
    minutes: int
    threshold_m: float
    numberMatched: int
    numberReturned: int
    features: list[GapFeature]


class Site(BaseModel):
    rank: int
    candidate: int
    lon: float
    lat: float
    households_added: int
    buildings_added: int
    households_covered_so_far: int
    share_of_uncovered_so_far: float | None
    building_ids: list[int]


class SiteSuggestions(BaseModel):
    category: str
    minutes: int
    threshold_m: float
    candidates: str = Field(description="network nodes, or how many points were supplied")
    uncovered_buildings: int
    uncovered_households: int
    not_on_network: int
    run: RunSummary
    sites: list[Site]


class CatchmentProperties(BaseModel):
    facility_id: int
    category: str
    name: str | None
    minutes: int
    mode: Mode
    threshold_m: float
    on_network: bool
    access_m: float | None
    reached_network_m: float


class Catchment(BaseModel):
    """What a facility reaches on foot (GeoJSON Feature; for display only)."""

    type: Literal["Feature"]
    id: int
    geometry: Area | None = Field(description="null when nothing is reached")
    properties: CatchmentProperties


class FacilityChange(BaseModel):
    id: int
    recomputed_categories: list[str] = Field(description="categories whose coverage is recomputed in the background")
    coverage_run: str | None = Field(
        description="the queued run that recomputes them (watch it); null when there is no network yet"
    )


# -- reach (public map) ----------------------------------------------------------------------------------------


class FacilityRef(BaseModel):
    id: int
    name: str | None


class CategoryReach(BaseModel):
    category: str
    category_name_zh: str
    category_name_en: str
    tier: int = Field(description="the category's life-circle tier, minutes")
    facility: FacilityRef | None = Field(description="the nearest reached facility; null: none reached")
    distance_m: float | None
    minutes: float | None
    within_tier: bool
    path: dict[str, Any] | None = Field(
        default=None,
        description="with path=true: the walking route to the facility, a GeoJSON LineString (WGS 84) from the "
        "point over the walking network to the facility; otherwise null",
    )


class Reach(BaseModel):
    """The nearest facility of every category by walking distance from a point."""

    lon: float
    lat: float
    on_network: bool
    access_m: float | None
    speed_mps: float
    max_snap_m: float
    categories: list[CategoryReach]
