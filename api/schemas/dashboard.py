"""The leaders' dashboard (GET /api/dashboard): every figure its charts draw, in one answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.coverage import CoverageTable


class StatusWeek(BaseModel):
    week: str = Field(description="the Monday the week starts on (YYYY-MM-DD)")
    by_status: dict[str, int] = Field(description="incidents reported that week, by their status now")


class HandlingWeek(BaseModel):
    week: str = Field(description="the Monday the week starts on (YYYY-MM-DD)")
    closed: int = Field(description="incidents closed that week")
    median_hours: float | None = Field(description="their median hours from report to close; null: none closed")


class OverdueArea(BaseModel):
    code: str | None = Field(description="community code or department; null: incidents with none")
    name: str | None
    total: int
    overdue: int
    overdue_rate: float = Field(description="overdue / total, 0–1")


class RatingCount(BaseModel):
    rating: int = Field(ge=1, le=5)
    incidents: int


class Ratings(BaseModel):
    evaluated: int
    mean: float | None = Field(description="mean rating 1–5; null before any evaluation")
    distribution: list[RatingCount]


class LoadBin(BaseModel):
    start: int = Field(description="households, inclusive")
    end: int = Field(description="households, exclusive (the last bin holds its end)")
    grids: int


class GridLoad(BaseModel):
    plan_id: int | None = Field(description="the published plan; null before any is published")
    band_min: int | None = Field(description="the plan's household band; null: open at that end")
    band_max: int | None
    grids: int
    outside_band: int
    bins: list[LoadBin]


class GridDensity(BaseModel):
    id: int = Field(description="the grid's id (features of /api/plans/{plan_id}/grids)")
    code: str
    name: str | None
    incidents: int
    per_km2: float | None = Field(description="incidents per square kilometre of the grid")


class Density(BaseModel):
    plan_id: int | None
    grids: list[GridDensity]


class Dashboard(BaseModel):
    days: int = Field(description="the window of the weekly series, in days back from now")
    status_by_week: list[StatusWeek]
    handling_by_week: list[HandlingWeek]
    overdue_by_community: list[OverdueArea]
    overdue_by_department: list[OverdueArea]
    ratings: Ratings
    grid_load: GridLoad
    density: Density
    coverage: CoverageTable = Field(description="households within each life-circle tier, per community")
