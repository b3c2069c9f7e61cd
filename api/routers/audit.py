"""GET /api/audit: the append-only trail of every write, newest first (admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ADMIN_ONLY, Offset, SessionDep, SettingsDep
from api.schemas.audit import AuditPage
from gis import audit

router = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=[ADMIN_ONLY])


@router.get("", summary="audit trail entries, newest first")
def entries(
    session: SessionDep,
    settings: SettingsDep,
    actor: Annotated[str | None, Query(description="who (user name, 'public', 'cli:USER')")] = None,
    action: Annotated[str | None, Query(description="action or its prefix: plan., incident.register, import.")] = None,
    target: Annotated[str | None, Query(description="e.g. plan:3, incident:12")] = None,
    since: Annotated[datetime | None, Query(description="from this time (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, description="entries per page")] = 100,
    offset: Offset = 0,
) -> AuditPage:
    found = audit.entries(
        session,
        actor=actor,
        action=action,
        target=target,
        since=since,
        until=until,
        limit=min(limit, settings.page_limit_max),
        offset=offset,
    )
    return AuditPage.model_validate(found)
