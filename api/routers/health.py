from __future__ import annotations

from fastapi import APIRouter, Request

from gis.db import check_postgis

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> dict[str, str]:
    """Liveness and database reachability (503 problem when PostGIS cannot be reached)."""
    return {"status": "ok", "postgis": check_postgis(request.app.state.engine)}
