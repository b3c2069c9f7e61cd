"""Units for every community of a city, and the import of its buildings, each beside its peer.

    python -m bench.bench_units [--buildings 200000]   (--buildings 50000 for a quick run)

A synthetic city (bench/synthetic_city.py) is written to files and its districts, streets and communities loaded
into a fresh database. Then:
- `gridmap import buildings FILE` as a whole process — reading, checks, household estimates, staging, versioning
  every row and placing it in its community — against `python -m bench.plain_copy FILE`, the least any load of
  the file can do (read it, COPY its rows into a bare table of the same shape);
- with the walking network loaded, units for every community (gis/plans/unit_store.ensure_units): the batch job
  as it runs by default (communities spread over a LocalCluster sized to the machine, or GRIDMAP_DASK_SCHEDULER)
  against the same job in one process (where="inline"). Both are rolled back, so each starts from no units.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.common import Row, bench_engine, print_table
from bench.synthetic_city import synthetic_city, write_city
from gis import batch
from gis.db.roles import APP_ROLE, embedded_roles, with_role
from gis.exchange.load import import_file
from gis.plans.unit_store import ensure_units
from gis.settings import get_settings

GRIDMAP = str(Path(sys.executable).parent / "gridmap")


def _process(env: dict[str, str], *command: str) -> float:
    """Wall time of one whole process; its output is shown only when it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return took


def _units(engine: Engine, where: str | None) -> tuple[float, int]:
    """Seconds to build (and write) the units of every community, rolled back afterwards; units made."""
    with Session(engine) as session:
        start = time.perf_counter()
        built = ensure_units(session, where=where)
        took = time.perf_counter() - start
        session.rollback()
    return took, sum(c.units for c in built)


def run(buildings: int, folder: Path) -> list[Row]:
    engine = bench_engine("gridmap_bench_units")
    url = engine.url.render_as_string(hide_password=False)
    cli_url = with_role(url, APP_ROLE) if APP_ROLE in embedded_roles(url) else url  # the CLI runs as the app does
    env = {**os.environ, "GRIDMAP_DATABASE_URL": cli_url}
    city = synthetic_city(buildings)
    write_city(city, folder)
    settings = get_settings()
    with Session(engine) as session, session.begin():
        for layer in ("districts", "streets", "communities"):
            import_file(session, layer, folder / f"{layer}.gpkg", settings=settings)
    size = f"{len(city.buildings):,} buildings"
    file = str(folder / "buildings.gpkg")
    peer_import = _process(env, sys.executable, "-m", "bench.plain_copy", file)
    ours_import = _process(env, GRIDMAP, "import", "buildings", file, "--no-recompute")
    with Session(engine) as session, session.begin():
        import_file(session, "network", folder / "network.gpkg", settings=settings)
        communities = session.execute(text("SELECT count(*) FROM communities")).scalar_one()

    place = batch.resolve(None)
    parallel, made = _units(engine, None)
    single, made_inline = _units(engine, batch.INLINE)
    assert made == made_inline, (made, made_inline)
    print(f"{communities} communities, {made:,} units; batch place: {place}")
    return [
        Row(
            "import buildings (gridmap import, whole process)",
            size,
            ours_import,
            "read file + plain COPY (bench.plain_copy, whole process)",
            peer_import,
        ),
        Row(f"units, every community ({place})", size, parallel, "the same job in one process (inline)", single),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buildings", type=int, default=200_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-units-") as out:
        rows = run(args.buildings, Path(out))
    batch.close()
    print_table(
        "A whole city: the buildings import and units for every community",
        rows,
        "targets (issue 18) on the 194 k-building city: import ≤ 10 s; units for every community ≤ 60 s "
        "(the peer row shows what the spread over processes gains)",
    )


if __name__ == "__main__":
    main()
