"""Typed, reusable dependencies: the request's database session and common query parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, PreconditionRequired
from gis.features import BBox
from gis.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the route returns, rolled back on any error."""
    with request.app.state.sessionmaker() as session, session.begin():
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def bbox_param(
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in WGS 84 degrees", examples=["121.54,29.86,121.56,29.88"])
    ] = None,
) -> BBox | None:
    return BBox.parse(bbox) if bbox is not None else None


BBoxDep = Annotated[BBox | None, Depends(bbox_param)]
Offset = Annotated[int, Query(ge=0, description="features to skip")]


def if_match(
    if_match: Annotated[
        str | None, Header(alias="If-Match", description="the plan version the edit is based on")
    ] = None,
) -> int:
    """The version a write is based on, from If-Match ("3", "\\"3\\"" or "W/\\"3\\"")."""
    if if_match is None:
        raise PreconditionRequired("send If-Match with the plan version this edit is based on", where="If-Match")
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise InvalidInput(f"If-Match: {if_match!r} is not a plan version", where="If-Match")
    return int(value)


def actor(x_gridmap_user: Annotated[str | None, Header(description="who makes the change")] = None) -> str:
    return x_gridmap_user or "anonymous"


IfMatchDep = Annotated[int, Depends(if_match)]
ActorDep = Annotated[str, Depends(actor)]
