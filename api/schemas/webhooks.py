"""Webhooks: incident events pushed to other platforms (gis/incidents/hooks.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class WebhookCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["综治平台"])
    url: str = Field(min_length=8, max_length=2000, examples=["https://zz.example.gov.cn/gridmap/events"])
    departments: list[str] | None = Field(None, description="only incidents routed to these departments; null: all")
    categories: list[str] | None = Field(None, description="only these incident categories; null: all")
    actions: list[str] | None = Field(
        None, description="only these events (report, register, dispatch, …, close); null: all"
    )


class Webhook(BaseModel):
    id: int
    name: str
    url: str
    departments: list[str] | None
    categories: list[str] | None
    actions: list[str] | None
    active: bool
    created_by: str
    created_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(
        description="shown once: receivers check X-Gridmap-Signature = 'sha256=' + HMAC-SHA256(secret, body)"
    )


class WebhookChange(BaseModel):
    active: bool


class DeliveryAttempt(BaseModel):
    at: datetime
    status: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    id: int = Field(description="the X-Gridmap-Delivery header: the same on every retry")
    event_id: int
    incident_id: int
    action: str | None
    created_at: datetime
    attempts: int
    delivered_at: datetime | None
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    log: list[DeliveryAttempt]

    @classmethod
    def of(cls, row: dict[str, Any]) -> Delivery:
        return cls.model_validate(row)
