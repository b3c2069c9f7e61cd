"""A plain load of a buildings file — the peer of `gridmap import buildings FILE`, as its own process or inside a
benchmark: read the file (pyogrio through Arrow, the reader gridmap uses) and COPY its rows into a temporary table
shaped like `buildings`, without indexes, triggers or checks, the way geopandas' `to_postgis` writes them (hex
EWKB from shapely, then COPY).

    python -m bench.plain_copy FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyogrio
import shapely
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gis.db.engine import database_url, make_engine, psycopg_connection
from gis.layers.catalog import get_layer
from gis.settings import get_settings


def plain_copy(engine: Engine, path: Path) -> int:
    """Rows copied (the table is dropped at the end of the transaction)."""
    frame = pyogrio.read_dataframe(path, use_arrow=True)
    fields = [f.name for f in get_layer("buildings").fields if f.name in frame.columns]
    with Session(engine) as session, session.begin():
        conn = psycopg_connection(session)
        conn.execute("CREATE TEMP TABLE peer_buildings (LIKE buildings INCLUDING DEFAULTS) ON COMMIT DROP")
        conn.execute("ALTER TABLE peer_buildings ALTER COLUMN code DROP NOT NULL")  # a file without keys: none made
        parts, row = shapely.get_parts(frame.geometry.to_numpy(), return_index=True)  # the column is MultiPolygon
        geoms = shapely.multipolygons(parts, indices=row)
        geoms = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
        values = frame[fields].astype(object).where(frame[fields].notna(), None).to_numpy()
        columns = sql.SQL(", ").join(map(sql.Identifier, [*fields, "footprint"]))
        with (
            conn.cursor() as cursor,
            cursor.copy(sql.SQL("COPY peer_buildings ({}) FROM STDIN").format(columns)) as copy,
        ):
            for row, geom in zip(values, geoms, strict=True):
                copy.write_row([*row, geom])
    return len(frame)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    print(f"{plain_copy(make_engine(database_url(get_settings())), args.path):,} rows copied")


if __name__ == "__main__":
    main()
