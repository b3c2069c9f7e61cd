"""Placeholder: GET /api/reach (what can I reach from here), written with the public map (issue 6)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["coverage"])
