"""`gridmap assign` on CSV and GeoParquet (the Arrow path) against the demo plan: the same answers as the API's bulk
assignment, GeoParquet in and out, the plan index kept on disk per plan content, and the same output whether the job
runs here or in partitions on dask (in process, a LocalCluster, a scheduler with workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gis.db.engine import psycopg_connection
from gis.geo.china_offsets import wgs84_to_gcj02
from gis.locate.bulk import assign_points, published_grids

GRIDMAP = str(Path(sys.executable).parent / "gridmap")


def demo_points(session: Session, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points over the demo plan's extent and 10 % around it (inside, snapped and outside points)."""
    west, south, east, north = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom)::geometry e FROM grids) s"
        )
    ).one()
    pad_x, pad_y = 0.1 * (east - west), 0.1 * (north - south)
    rng = np.random.default_rng(seed)
    return rng.uniform(west - pad_x, east + pad_x, n), rng.uniform(south - pad_y, north + pad_y, n)


def gridmap(engine: Engine, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "GRIDMAP_CACHE_DIR": str(cache),
    }
    return subprocess.run([GRIDMAP, "assign", *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_csv_gets_the_answers_of_the_bulk_api(demo_engine: Engine, demo_session: Session, tmp_path: Path) -> None:
    lon, lat = demo_points(demo_session, 20_000, seed=1)
    glon, glat = wgs84_to_gcj02(lon, lat)
    codes = [f"{k:05d}" for k in range(lon.size)]  # leading zeros: text stays text
    pd.DataFrame({"编号": codes, "备注": ["=1+1"] + ["ok"] * (lon.size - 1), "lng": glon, "lat": glat}).to_csv(
        tmp_path / "wechat.csv", index=False
    )

    done = gridmap(
        demo_engine,
        tmp_path / "cache",
        str(tmp_path / "wechat.csv"),
        "--crs",
        "gcj02",
        "--out",
        str(tmp_path / "out.csv"),
    )

    assert done.returncode == 0, done.stderr
    want = assign_points(demo_session, glon, glat, crs="gcj02")
    assert f"{lon.size} points against plan {want.plan_id}" in done.stdout
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(out.columns) == [
        "编号",
        "备注",
        "lng",
        "lat",
        "grid_code",
        "community_code",
        "street_code",
        "status",
        "distance_m",
    ]
    assert out["编号"].tolist() == codes and out["备注"][0] == "'=1+1"  # a formula is written as text
    assert out["grid_code"].tolist() == [c or "" for c in want.grid_code]
    assert out["community_code"].tolist() == [c or "" for c in want.community_code]
    assert out["status"].tolist() == want.status.tolist()
    assert {"inside", "snapped", "outside"} == set(want.status)
    np.testing.assert_array_equal(out["distance_m"].astype(float).to_numpy(), want.distance_m)
    np.testing.assert_array_equal(out["lng"].astype(float).to_numpy(), glon)  # the coordinates as given


def test_geoparquet_in_and_out(demo_engine: Engine, demo_session: Session, tmp_path: Path) -> None:
    lon, lat = demo_points(demo_session, 5_000, seed=2)
    frame = gpd.GeoDataFrame({"id": np.arange(lon.size)}, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(4549)
    frame.to_parquet(tmp_path / "points.parquet")  # CGCS2000 Gauss-Krüger: the CRS comes from the file

    done = gridmap(
        demo_engine, tmp_path / "cache", str(tmp_path / "points.parquet"), "--out", str(tmp_path / "out.parquet")
    )

    assert done.returncode == 0, done.stderr
    out = gpd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["id", "grid_code", "community_code", "street_code", "status", "distance_m", "geometry"]
    assert out.crs.equals("OGC:CRS84") or out.crs.to_epsg() == 4326
    assert out["id"].tolist() == list(range(lon.size))
    want = assign_points(demo_session, frame.geometry.x, frame.geometry.y, crs="EPSG:4549")
    assert out["grid_code"].tolist() == list(want.grid_code) and out["status"].tolist() == want.status.tolist()
    np.testing.assert_allclose(shapely.get_x(out.geometry.values), lon, atol=1e-7)  # back in WGS 84 lon/lat
    np.testing.assert_allclose(shapely.get_y(out.geometry.values), lat, atol=1e-7)


def test_the_plan_index_is_kept_per_plan_content(demo_engine: Engine, demo_session: Session, tmp_path: Path) -> None:
    conn = psycopg_connection(demo_session)
    first = published_grids(conn, tmp_path)
    stored = sorted(tmp_path.glob("plan-*.npz"))
    assert len(stored) == 1
    again = published_grids(conn, tmp_path)  # read from the file
    assert sorted(tmp_path.glob("plan-*.npz")) == stored and again.code.tolist() == first.code.tolist()
    lon, lat = demo_points(demo_session, 2_000, seed=3)
    np.testing.assert_array_equal(again.locator.locate(lon, lat).grid, first.locator.locate(lon, lat).grid)

    # A renumbered community changes what an answer says: another file, never the old one.
    demo_session.execute(text("UPDATE communities SET code = code || '9' WHERE id = (SELECT min(id) FROM communities)"))
    changed = published_grids(conn, tmp_path)
    assert len(list(tmp_path.glob("plan-*.npz"))) == 2
    assert set(changed.community_code) != set(first.community_code)


def test_the_same_file_gives_the_same_output_wherever_it_runs(
    demo_engine: Engine, demo_session: Session, tmp_path: Path, batch_place: str
) -> None:
    lon, lat = demo_points(demo_session, 100_000, seed=4)
    pd.DataFrame({"lon": lon, "lat": lat}).to_csv(tmp_path / "points.csv", index=False)
    here = gridmap(
        demo_engine,
        tmp_path / "cache",
        str(tmp_path / "points.csv"),
        "--crs",
        "wgs84",
        "--out",
        str(tmp_path / "here.csv"),
    )
    assert here.returncode == 0, here.stderr

    spread = gridmap(
        demo_engine,
        tmp_path / "cache",
        str(tmp_path / "points.csv"),
        "--crs",
        "wgs84",
        "--out",
        str(tmp_path / "spread.csv"),
        "--where",
        batch_place,
        "--part-points",
        "30000",  # four partitions
    )

    assert spread.returncode == 0, spread.stderr
    assert spread.stdout.splitlines()[0] == here.stdout.splitlines()[0]
    assert (tmp_path / "spread.csv").read_bytes() == (tmp_path / "here.csv").read_bytes()


def test_refusals_name_the_problem(demo_engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "no_crs.csv").write_text("lon,lat\n121.55,29.87\n", encoding="utf-8")
    done = gridmap(demo_engine, tmp_path / "cache", str(tmp_path / "no_crs.csv"))
    assert done.returncode == 2 and "--crs" in done.stderr
    (tmp_path / "words.csv").write_text("lon,lat\n121.55,twenty\n", encoding="utf-8")
    done = gridmap(demo_engine, tmp_path / "cache", str(tmp_path / "words.csv"), "--crs", "wgs84")
    assert done.returncode == 2 and "must hold numbers" in done.stderr
    (tmp_path / "blank.csv").write_text("lon,lat\n121.55,\n", encoding="utf-8")
    done = gridmap(demo_engine, tmp_path / "cache", str(tmp_path / "blank.csv"), "--crs", "wgs84")
    assert done.returncode == 2 and "not finite" in done.stderr
    (tmp_path / "names.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    done = gridmap(demo_engine, tmp_path / "cache", str(tmp_path / "names.csv"), "--crs", "wgs84")
    assert done.returncode == 2 and "lon/lat columns" in done.stderr


def test_a_few_points_are_printed(demo_engine: Engine, demo_session: Session, tmp_path: Path) -> None:
    lon, lat = demo_points(demo_session, 3, seed=5)
    pd.DataFrame({"x": lon, "y": lat}).to_csv(tmp_path / "three.csv", index=False)
    done = gridmap(demo_engine, tmp_path / "cache", str(tmp_path / "three.csv"), "--crs", "EPSG:4326")
    assert done.returncode == 0, done.stderr
    want = assign_points(demo_session, lon, lat)
    lines = done.stdout.splitlines()[1:]
    assert [line.split()[1:3] for line in lines] == [
        [str(c), s] for c, s in zip(want.grid_code, want.status, strict=True)
    ]
