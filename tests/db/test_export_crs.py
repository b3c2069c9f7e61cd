"""`gridmap export LAYER PATH --crs X` as a user runs it, and export_layer in other coordinate systems."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gis.db.cluster import ensure_database
from gis.db.engine import transaction, upgrade
from gis.errors import InvalidInput
from gis.exchange.exports import export_layer, layer_frame
from gis.exchange.files import read_frame
from gis.exchange.load import import_frame
from gis.geo.china_offsets import wgs84_to_gcj02
from gis.settings import Settings
from tests import samples

GRIDMAP = str(Path(sys.executable).parent / "gridmap")
GAUSS_KRUGER = 4549


@pytest.fixture(scope="module")
def cli_database(engine, settings: Settings) -> Iterator[str]:
    """A database of its own holding the sample buildings: the CLI commits, so it must not share the test database."""
    url = make_url(engine.url.render_as_string(False))
    name = f"{url.database}_export_crs"
    ensure_database(url.set(database="postgres").render_as_string(False), name, recreate=True)
    database = url.set(database=name).render_as_string(False)
    upgrade(database)
    own = create_engine(database)
    try:
        with transaction(own) as session:
            import_frame(session, "communities", samples.communities(), settings=settings)
            import_frame(session, "buildings", samples.buildings(), settings=settings)
    finally:
        own.dispose()
    yield database


def gridmap(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GRIDMAP_DATABASE_URL": database, "COLUMNS": "200"}
    return subprocess.run([GRIDMAP, *args], capture_output=True, text=True, env=environment, timeout=300, check=False)


def test_export_with_crs_gcj02_writes_shifted_buildings_that_import_back(cli_database: str, tmp_path: Path) -> None:
    out = tmp_path / "buildings.geojson"

    done = gridmap(cli_database, "export", "buildings", str(out), "--crs", "gcj02")

    assert done.returncode == 0, done.stderr
    assert "wrote 12 features in gcj02" in done.stdout
    original = samples.buildings()
    written = pyogrio.read_dataframe(out)
    first = np.asarray(original.geometry.iloc[0].exterior.coords)
    x, y = wgs84_to_gcj02(first[:, 0], first[:, 1])
    assert shapely.hausdorff_distance(shapely.Polygon(np.column_stack([x, y])), written.geometry.iloc[0]) < 1e-9
    back = read_frame(out, crs="gcj02").to_crs(GAUSS_KRUGER)
    distance = shapely.hausdorff_distance(back.geometry.to_numpy(), original.to_crs(GAUSS_KRUGER).geometry.to_numpy())
    assert distance.max() < 0.5


def test_export_with_an_epsg_crs_and_a_bad_one(cli_database: str, tmp_path: Path) -> None:
    out = tmp_path / "buildings.gpkg"

    done = gridmap(cli_database, "export", "buildings", str(out), "--crs", "EPSG:4549")
    refused = gridmap(cli_database, "export", "buildings", str(tmp_path / "x.gpkg"), "--crs", "mars")

    assert done.returncode == 0, done.stderr
    assert pyogrio.read_info(out)["crs"] == "EPSG:4549"
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "crs" in refused.stderr and "mars" in refused.stderr and "gcj02" in refused.stderr
    assert not (tmp_path / "x.gpkg").exists()


def test_export_layer_in_bd09_csv_and_refused_system_writes_nothing(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    import_frame(session, "communities", samples.communities(), settings=settings)
    import_frame(session, "facilities", samples.facilities(), settings=settings)
    stored = layer_frame(session, "facilities")

    count = export_layer(session, "facilities", tmp_path / "f.csv", crs="bd09")

    assert count == len(stored) == 3
    back = read_frame(tmp_path / "f.csv", crs="bd09").to_crs(GAUSS_KRUGER)
    assert shapely.distance(back.geometry.to_numpy(), stored.to_crs(GAUSS_KRUGER).geometry.to_numpy()).max() < 0.5
    with pytest.raises(InvalidInput) as refused:
        export_layer(session, "facilities", tmp_path / "g.csv", crs="EPSG:4978")
    assert refused.value.where == "crs" and not (tmp_path / "g.csv").exists()
