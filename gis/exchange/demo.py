"""Loading the demo district (data/demo.py generates it) into an empty database, through the importers."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from data.demo import generate_district
from gis.coverage.runs import run_coverage
from gis.exchange.load import ImportReport, Progress, import_frame
from gis.settings import Settings

# Parents before children, so codes link as they arrive.
ORDER = ("districts", "streets", "communities", "buildings", "facilities", "network", "grids")


def database_is_empty(session: Session) -> bool:
    return not session.execute(
        text("SELECT EXISTS (SELECT 1 FROM communities) OR EXISTS (SELECT 1 FROM buildings)")
    ).scalar_one()


def load_demo(
    session: Session, settings: Settings, *, seed: int = 20261123, progress: Progress | None = None
) -> list[ImportReport]:
    """Import every layer of the demo district and compute its walking coverage; does nothing (returns [])
    when data is already present."""
    if not database_is_empty(session):
        return []
    district = generate_district(seed=seed)
    reports = [
        import_frame(
            session,
            layer,
            getattr(district, layer),
            settings=settings,
            source=f"demo {layer}",
            progress=progress,
            plan_name="现状网格（演示）",
        )
        for layer in ORDER
    ]
    run_coverage(session, settings, categories=None, actor="demo")
    return reports
