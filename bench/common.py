"""Shared by the benchmarks: a scratch database, timing, and the comparison table every benchmark prints."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from gis.db.cluster import ensure_database
from gis.db.engine import database_url, make_engine, upgrade
from gis.db.roles import OWNER_ROLE, with_role
from gis.settings import get_settings

console = Console(width=150)


def bench_engine(name: str = "gridmap_bench") -> Engine:
    """A freshly created and migrated database next to the configured one."""
    base = make_url(database_url(get_settings()))
    ensure_database(base.set(database="postgres").render_as_string(False), name, recreate=True)
    url = base.set(database=name).render_as_string(False)
    upgrade(url)
    # As the schema's owner on the embedded cluster (the URL as given elsewhere): benchmarks build their peers'
    # tables beside ours and empty tables wholesale, which the app role may not.
    return make_engine(with_role(url, OWNER_ROLE))


def timed(run: Callable[[], object], *, repeat: int = 3, setup: Callable[[], object] | None = None) -> float:
    """Median wall time of `run` in seconds over `repeat` runs (`setup` runs untimed before each)."""
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Row:
    task: str
    size: str
    ours: float
    peer_name: str
    peer: float
    unit: str = "s"

    @property
    def ratio(self) -> float:
        return self.peer / self.ours if self.ours else float("inf")


def print_table(title: str, rows: list[Row], note: str = "") -> None:
    table = Table(title=title, title_justify="left")
    for column in ("task", "size", "gridmap", "peer", "peer time", "speed-up (peer ÷ gridmap)"):
        table.add_column(column, justify="left" if column in ("task", "peer") else "right")
    for r in rows:
        table.add_row(
            r.task, r.size, f"{r.ours:.3f} {r.unit}", r.peer_name, f"{r.peer:.3f} {r.unit}", f"{r.ratio:.2f}×"
        )
    console.print(table)
    if note:
        console.print(note)
