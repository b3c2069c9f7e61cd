"""Re-importing a city's buildings by key with 1 % of rows changed, beside a plain COPY of the same rows.

    python -m bench.bench_upsert [--buildings 200000] [--changed 0.01]

gridmap's upsert reads every row like any import (geometry checks, household estimates), stages the rows with
COPY, compares them with the stored ones in the database, writes only the changed rows and versions them. The
peer is the least any load of the same file can do (bench/plain_copy.py): read it and COPY its rows into a table of
the same shape without indexes, triggers or checks. A second row shows a re-import of the unchanged file.

As whole processes: `gridmap import buildings FILE` against `python -m bench.plain_copy FILE`, importing the changed
and the stored file in turn (each is 1 % changed against the other).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.common import Row, bench_engine, print_table, timed
from bench.plain_copy import plain_copy
from bench.synthetic_city import synthetic_city
from gis.exchange.exports import layer_frame
from gis.exchange.load import import_file, import_frame
from gis.settings import get_settings


def run(buildings: int, changed: float, out: Path) -> list[Row]:
    city = synthetic_city(buildings)
    engine = bench_engine("gridmap_bench_upsert")
    settings = get_settings()
    with Session(engine) as session, session.begin():
        import_frame(session, "communities", city.communities, settings=settings)
        import_frame(session, "buildings", city.buildings, settings=settings)
        stored = layer_frame(session, "buildings")
    size = f"{len(stored):,} buildings"
    rng = np.random.default_rng(3)
    picked = rng.choice(len(stored), size=max(1, int(len(stored) * changed)), replace=False)
    update = stored.copy()
    update.loc[update.index[picked], "households"] = update["households"].iloc[picked] + 1
    files = {"changed": out / "buildings-changed.gpkg", "unchanged": out / "buildings.gpkg"}
    for path, frame in zip(files.values(), (update, stored), strict=True):
        path.unlink(missing_ok=True)
        frame.to_file(path, driver="GPKG", engine="pyogrio")

    def ours(path: Path = files["changed"]) -> None:
        with Session(engine) as session, session.begin():
            report = import_file(session, "buildings", path, settings=settings)
            assert report.updated in (0, len(picked)), report.summary()
            session.rollback()  # every repeat starts from the same stored city

    peer = timed(lambda: plain_copy(engine, files["changed"]))
    rows = [
        Row(f"upsert, {changed:.0%} of rows changed", size, timed(ours), "read file + plain COPY", peer),
        Row(
            "upsert of the unchanged file",
            size,
            timed(lambda: ours(files["unchanged"])),
            "read file + plain COPY",
            peer,
        ),
    ]
    with engine.begin() as conn:
        versions = conn.execute(text("SELECT count(*) FROM buildings_history")).scalar()
    print(f"versions stored after the runs (rolled back): {versions:,} — one per building")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buildings", type=int, default=50_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows with a new household count")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-upsert-") as out:
        rows = run(args.buildings, args.changed, Path(out))
    print_table(
        "Keyed re-import of a buildings GeoPackage (whole import_file: read, checks, stage, compare, write, history)",
        rows,
        "target (issue 14): the upsert with 1 % changed within 2× the plain COPY, i.e. speed-up ≥ 0.5×",
    )


if __name__ == "__main__":
    main()
