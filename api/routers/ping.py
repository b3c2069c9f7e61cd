"""GET /api/ping: the cheapest JSON answer the server gives — liveness without the database, and the
yardstick the locate benchmark compares /api/locate with (bench/bench_locate_api.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter(prefix="/api", tags=["health"])


class Pong(BaseModel):
    status: Literal["ok"]


@router.get("/ping", response_model=Pong, summary="the server process answers (no database): a trivial JSON answer")
async def ping() -> JSONResponse:
    # Sent as built, like /api/locate, so the two compare the same server work around the answer.
    return JSONResponse({"status": "ok"})
