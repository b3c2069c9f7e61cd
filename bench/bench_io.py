"""Loading and reading layers: gridmap's importer and page reader beside geopandas on the same data.

The importer validates and repairs every row, transforms, and loads with COPY; the peer is
`GeoDataFrame.to_postgis` (SQLAlchemy executemany) writing the same frame to the same server.
The page reader builds GeoJSON in PostGIS; the peer is `geopandas.read_postgis` + `to_json`.
"""

from __future__ import annotations

import argparse

import geopandas as gpd
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.common import Row, bench_engine, print_table, timed
from bench.synthetic_city import synthetic_city
from gis.exchange.load import import_frame
from gis.layers.catalog import get_layer
from gis.layers.features import BBox, feature_collection
from gis.settings import get_settings


def run(buildings: int) -> list[Row]:
    city = synthetic_city(buildings)
    engine = bench_engine()
    settings = get_settings()
    rows: list[Row] = []
    frame = city.buildings
    size = f"{len(frame):,} buildings"

    def clear() -> None:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE buildings; DROP TABLE IF EXISTS peer_buildings"))

    def ours() -> None:
        with Session(engine) as session, session.begin():
            import_frame(session, "buildings", frame, settings=settings)

    def peer() -> None:
        frame.to_postgis("peer_buildings", engine, if_exists="replace", index=False, chunksize=5_000)

    rows.append(
        Row(
            "import buildings (validate + load)",
            size,
            timed(ours, setup=clear),
            "geopandas.to_postgis",
            timed(peer, setup=clear),
        )
    )

    ours()  # leave one copy loaded for reading
    peer()
    west, south, east, north = frame.total_bounds
    # A neighbourhood-sized window: about 1/16 of the city.
    box = BBox(west, south, west + (east - west) / 4, south + (north - south) / 4)
    layer = get_layer("buildings")

    def read_ours() -> None:
        with Session(engine) as session:
            feature_collection(session, layer, bbox=box, limit=10_000)

    def read_peer() -> None:
        sql = text("SELECT * FROM peer_buildings WHERE ST_Intersects(geometry, ST_MakeEnvelope(:w, :s, :e, :n, 4326))")
        with engine.connect() as conn:
            gpd.read_postgis(
                sql, conn, geom_col="geometry", params={"w": box.west, "s": box.south, "e": box.east, "n": box.north}
            ).to_json()

    with Session(engine) as session:
        matched = feature_collection(session, layer, bbox=box, limit=1)["numberMatched"]
    rows.append(
        Row(
            "bbox page as GeoJSON",
            f"{matched:,} of {len(frame):,}",
            timed(read_ours, repeat=5),
            "read_postgis + to_json",
            timed(read_peer, repeat=5),
        )
    )
    engine.dispose()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=50_000)
    args = parser.parse_args(argv)
    print_table(
        "Import and read (median of runs; same data, same server)",
        run(args.buildings),
        "gridmap's import also validates, repairs and reports every row; the peer only writes.",
    )


if __name__ == "__main__":
    main()
