"""Loading the demo district (data/demo.py generates it) into an empty database, through the importers."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from data.demo import generate_district
from gis.imports import ImportReport, Progress, import_frame

# Parents before children, so codes link as they arrive.
ORDER = ("districts", "streets", "communities", "buildings", "facilities", "network", "grids")


def database_is_empty(session: Session) -> bool:
    return not session.execute(
        text("SELECT EXISTS (SELECT 1 FROM communities) OR EXISTS (SELECT 1 FROM buildings)")
    ).scalar_one()


def load_demo(session: Session, *, seed: int = 20261123, progress: Progress | None = None) -> list[ImportReport]:
    """Import every layer of the demo district; does nothing (returns []) when data is already present."""
    if not database_is_empty(session):
        return []
    district = generate_district(seed=seed)
    return [
        import_frame(
            session,
            layer,
            getattr(district, layer),
            source=f"demo {layer}",
            progress=progress,
            plan_name="现状网格（演示）",
        )
        for layer in ORDER
    ]
