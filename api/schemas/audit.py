"""The audit trail, for admins."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import Timestamp


class AuditEntry(BaseModel):
    id: int
    at: Timestamp
    actor: str = Field(description="user name, 'public', 'cli:USER', 'open311', 'system'")
    action: str = Field(description="e.g. plan.merge, incident.register, user.add")
    target: str | None = Field(description="e.g. plan:3, incident:12, user:wang")
    before: dict[str, Any] | None = Field(description="a summary: never secrets, contacts or geometries")
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    matched: int = Field(description="entries matching the filters, on every page")
    entries: list[AuditEntry] = Field(description="newest first")
