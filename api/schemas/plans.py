"""Grid plans over HTTP: the bodies planners send (drafts and edits) and every answer the plan routes give.

Answers keep exactly the keys gis.plans returns; the models document them in /openapi.json. Geometries are
GeoJSON objects in WGS 84, passed through as they are.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Timestamp

GeoJSONGeometry = dict[str, Any]

# --- requests ---------------------------------------------------------------------------------------------------


class PlanCreate(BaseModel):
    base: int | Literal["current"] = Field("current", description='plan id, or "current" for the published plan')
    name: str = Field(min_length=1, max_length=200)


class MergeEdit(BaseModel):
    grids: list[int] = Field(min_length=2, max_length=200, description="grid ids; the first one keeps its code")


class SplitEdit(BaseModel):
    grid: int
    line: dict[str, Any] = Field(description="GeoJSON LineString in WGS 84 crossing the grid")


class RedrawEdit(BaseModel):
    grid: int
    polygon: dict[str, Any] = Field(description="GeoJSON Polygon in WGS 84; the units it contains join the grid")


class ReassignEdit(BaseModel):
    grid: int
    buildings: list[int] = Field(min_length=1, max_length=10_000)


LoadPart = Literal["households", "incidents", "patrol_m"]
Weight = Annotated[float, Field(ge=0, le=1000)]


class BalanceEdit(BaseModel):
    community: str | None = Field(None, description="community code; or give `grids`")
    grids: list[int] | None = None
    min_households: int | None = Field(
        None,
        ge=0,
        le=100_000,
        description="absent: the configured band of the community's type (GRIDMAP_HOUSEHOLD_BAND_BY_TYPE), else "
        "GRIDMAP_HOUSEHOLD_BAND (300–500)",
    )
    max_households: int | None = Field(None, ge=1, le=100_000)
    seed: int = 0
    weights: dict[LoadPart, Weight] | None = Field(
        None,
        description="balance the load of managing each grid (按管理难度): weights of households, incidents of the last "
        "`months` months and patrol length (walking network inside), each part scaled by its mean per grid; "
        "absent: households only",
        examples=[{"households": 1, "incidents": 1, "patrol_m": 0.5}],
    )
    months: int = Field(6, ge=1, le=60, description="incidents of this many months count (with `weights`)")
    token: str | None = Field(
        None,
        max_length=64,
        description="the token of a preview (POST …/balance/preview): the edit must give exactly the previewed "
        "grids, else 409 and nothing changes",
    )


class BandEdit(BaseModel):
    """A draft's household band (户数区间): out-of-band grids are validation errors that block publishing."""

    min_households: int = Field(ge=0, le=100_000)
    max_households: int = Field(ge=1, le=100_000)


class RenumberEdit(BaseModel):
    layout: str | None = Field(None, description="code layout in data/code_layouts.toml (default: the plan's)")


# --- plans ------------------------------------------------------------------------------------------------------


class Plan(BaseModel):
    """A version of the grid layout with its totals. `version` is also sent as the ETag."""

    id: int
    name: str
    status: Literal["draft", "published", "retired"]
    version: int
    base_plan_id: int | None = Field(description="the plan this draft was copied from")
    min_households: int | None = Field(
        description="the household band: set on every plan (the configured default), changed by PATCH or balancing"
    )
    max_households: int | None
    code_layout: str | None = Field(description="code layout in data/code_layouts.toml (None: the default)")
    created_at: Timestamp
    effective_from: Timestamp | None = Field(description="when it was published")
    effective_to: Timestamp | None = Field(description="when it was retired")
    grids: int = Field(description="number of grids")
    households: int


class PlanGridProperties(BaseModel):
    """A grid of a plan: code, community and the totals derived from its units."""

    model_config = ConfigDict(extra="allow")  # whatever else the grid layer serves passes through unchanged

    id: int
    code: str
    name: str | None
    community_code: str | None
    households: int
    buildings: int
    population: int
    area_m2: float = Field(description="area in m², rounded to 0.1")
    plan_id: int


class PlanGridFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: GeoJSONGeometry = Field(description="GeoJSON MultiPolygon in WGS 84")
    properties: PlanGridProperties


class PlanGrids(BaseModel):
    """The plan's grids as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"]
    numberMatched: int  # OGC API Features names
    numberReturned: int
    features: list[PlanGridFeature]


class PlanOperation(BaseModel):
    """One entry of a plan's append-only operation log."""

    seq: int
    kind: str = Field(
        description="create | merge | split | redraw | reassign | balance | renumber | band | undo | redo | publish"
    )
    actor: str
    at: Timestamp
    payload: dict[str, Any] = Field(description="the command's parameters and, under `result`, what it did")
    version_after: int
    undone: bool
    units_moved: int = Field(0, description="units the operation moved between grids")
    households_moved: int = Field(0, description="households of those units (as they are now)")
    current: bool = Field(
        False, description="the plan's position: its newest edit still in effect (the creation when none is)"
    )


# --- edits ------------------------------------------------------------------------------------------------------


class PlanVersion(BaseModel):
    id: int
    version: int = Field(description="the plan's version after the edit (also the ETag)")


class GridChanges(BaseModel):
    created: list[int]
    changed: list[int]
    removed: list[int]


class PlanEditResult(BaseModel):
    """What an edit did: the plan's new version, its operation number and the grids it touched."""

    plan: PlanVersion
    operation: int = Field(description="sequence number in the plan's operation log")
    kind: str
    grids: GridChanges


class MergeResult(PlanEditResult):
    merged_into: int = Field(description="the grid that holds the merged grids' units")


class NewGrid(BaseModel):
    id: int
    code: str


class SplitResult(PlanEditResult):
    new_grids: list[NewGrid]


class GridLoad(BaseModel):
    households: int
    incidents: int
    patrol_m: float
    load: float = Field(description="Σ weight × part ÷ the part's mean per grid")


class WorkloadOutcome(BaseModel):
    evened: bool
    reason: str | None = None
    weights: dict[str, float] | None = None
    months: int | None = None
    moves: int | None = Field(None, description="units (or whole compounds) moved between grids")
    spread_before: float | None = Field(None, description="coefficient of variation of the grids' loads before")
    spread_after: float | None = None
    grids: list[GridLoad] = Field(default_factory=list, description="each grid's load by its parts, ascending")


class BalanceOutcome(BaseModel):
    satisfied: bool = Field(description="every grid is within the band and contiguous")
    problems: list[str] = Field(description="plain-language reasons for anything not satisfied")
    attempts: int
    households: list[int] = Field(description="households of the resulting grids, ascending")
    workload: WorkloadOutcome | None = Field(None, description="with `weights`: how the loads were evened out")


class BalanceResult(PlanEditResult):
    balance: BalanceOutcome


class RenumberResult(PlanEditResult):
    codes: dict[str, str] = Field(description="old code → new code, for the grids whose code changed")
    layout: str


class UndoneOperation(BaseModel):
    operation: int
    kind: str


class UndoResult(PlanEditResult):
    undid: UndoneOperation


class RedoResult(PlanEditResult):
    redid: UndoneOperation = Field(description="the edit applied again")


# --- validation and diff ----------------------------------------------------------------------------------------


class ValidationFinding(BaseModel):
    type: str = Field(description="e.g. gap, overlap, non_contiguous, households_above")
    severity: Literal["error", "warning"]
    grids: list[str] = Field(description="codes of the grids concerned")
    message: str
    geometry: GeoJSONGeometry | None = Field(description="where, in WGS 84")


class PlanDriftGrid(BaseModel):
    """A grid outside its plan's household band, with the base-data change that last moved its totals."""

    grid_id: int
    code: str
    name: str | None
    community_code: str | None
    households: int
    min_households: int | None = Field(description="the plan's band")
    max_households: int | None
    side: Literal["below", "above"] = Field(description="which end of the band the grid left")
    data_changed_at: Timestamp | None = Field(description="when a data change last moved its totals (None: never)")
    data_batch_id: int | None = Field(description="the import batch of that change (gridmap batches show ID)")
    data_date: date | None = Field(description="the day of that change (the batch's day)")


class PlanValidation(BaseModel):
    """A plan's errors (which block publishing) and warnings."""

    plan: int
    valid: bool
    errors: list[ValidationFinding]
    warnings: list[ValidationFinding]


class GridDiff(BaseModel):
    """One grid that differs between the two plans, followed across plans by lineage."""

    status: Literal["added", "removed", "changed"]
    grid: int | None = Field(description="its id in the plan (None when removed)")
    code: str | None
    previous_code: str | None
    households: int
    previous_households: int
    households_in: int
    households_out: int
    buildings_in: int
    buildings_out: int
    units_in: int
    units_out: int
    geometry: GeoJSONGeometry


class CompoundSplit(BaseModel):
    """A compound (小区) in more than one grid of the plan but in at most one of the plan compared with."""

    compound: str
    community_code: str | None
    households: int
    grids: list[str] = Field(description="codes of the plan's grids that hold its units")
    previous_grids: int = Field(description="grids that hold it in the other plan (0 or 1)")
    geometry: GeoJSONGeometry = Field(description="its units, GeoJSON MultiPolygon in WGS 84")


class PlanDiff(BaseModel):
    plan: int
    against: int
    grids: list[GridDiff]
    compounds_split: list[CompoundSplit] = Field(description="neighbourhood ties the plan newly cuts")


# --- rebalance preview ------------------------------------------------------------------------------------------


class ProposedGridProperties(BaseModel):
    part: int = Field(description="the proposal's own number of the grid")
    grid: int | None = Field(description="the existing grid it keeps (its id and code); None: a new grid")
    code: str | None
    households: int
    buildings: int
    units: int
    compactness: float | None = Field(description="Polsby–Popper 4πA/P²: 1 a circle, ≈ 0.785 a square, → 0 thin")
    changed: bool = Field(description="its units differ from the grid it keeps (always true for a new grid)")


class ProposedGrid(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: GeoJSONGeometry = Field(description="GeoJSON (Multi)Polygon in WGS 84")
    properties: ProposedGridProperties


class ProposedGrids(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[ProposedGrid]


class ProposedSplit(BaseModel):
    compound: str
    community_code: str | None
    households: int
    grids: int = Field(description="proposed grids holding its units")
    grids_before: int = Field(description="grids holding them now")


class BandOf(BaseModel):
    min_households: int
    max_households: int


class BalancePreview(BaseModel):
    """What a rebalance would make, nothing written. Send `token` with the same body to apply exactly this."""

    plan: int
    version: int = Field(description="the plan's version the proposal was computed from")
    token: str
    band: BandOf
    balance: BalanceOutcome
    removed: list[int] = Field(description="ids of the grids that would be removed")
    grids: ProposedGrids
    split_compounds: list[ProposedSplit]
