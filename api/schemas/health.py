"""Liveness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok"]
    postgis: str = Field(description="postgis_full_version() of the database")
