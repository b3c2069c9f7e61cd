"""GET /health: liveness and database reachability."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.schemas.health import Health
from gis.db.engine import check_postgis

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> Health:
    """Liveness and database reachability (503 problem when PostGIS cannot be reached)."""
    return Health(status="ok", postgis=check_postgis(request.app.state.engine))
