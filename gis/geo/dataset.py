"""Dataset-wide facts decided once and stored in `meta`: the metric CRS for areas, lengths and buffers."""

from __future__ import annotations

from pyproj import CRS
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geo.crs import metric_epsg_for_bounds


def get_meta(session: Session, key: str) -> str | None:
    return session.execute(text("SELECT value FROM meta WHERE key = :key"), {"key": key}).scalar_one_or_none()


def set_meta(session: Session, key: str, value: str) -> None:
    session.execute(
        text("INSERT INTO meta (key, value) VALUES (:key, :value) ON CONFLICT (key) DO UPDATE SET value = :value"),
        {"key": key, "value": value},
    )


def metric_epsg(session: Session, bounds: tuple[float, float, float, float] | None = None) -> int:
    """The dataset's metric CRS; decided from `bounds` (WGS 84) the first time data arrives, then fixed."""
    stored = get_meta(session, "metric_epsg")
    if stored is not None:
        return int(stored)
    if bounds is None:
        raise LookupError("the dataset has no metric CRS yet: import data first")
    epsg = metric_epsg_for_bounds(bounds)
    set_meta(session, "metric_epsg", str(epsg))
    return epsg


def metric_crs(session: Session) -> CRS:
    return CRS.from_epsg(metric_epsg(session))
