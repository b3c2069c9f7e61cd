"""Import and export against a real PostGIS: formats, CRS, per-row reports, refusals, parents."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import FileRejected
from gis.exchange.exports import export_layer, layer_frame
from gis.exchange.load import import_file, import_frame
from gis.settings import Settings
from tests import samples

FORMATS = ["layer.geojson", "layer.gpkg", "layer.zip", "shapefolder", "layer.shp", "layer.csv"]


def count(session: Session, table: str) -> int:
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def clear(session: Session, table: str) -> None:
    session.execute(text(f"DELETE FROM {table}"))


def comparable(frame: gpd.GeoDataFrame, columns: list[str]) -> list[tuple]:
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    return [tuple(row) for row in values.itertuples(index=False)]


@pytest.mark.parametrize("filename", FORMATS)
@pytest.mark.parametrize(
    ("layer", "make", "columns"),
    [
        (
            "buildings",
            samples.buildings,
            ["name", "compound", "floors", "residential", "households", "population_resident"],
        ),
        ("facilities", samples.facilities, ["category", "name", "capacity", "public"]),
        ("network", samples.network, ["name", "kind"]),
    ],
)
def test_export_then_import_round_trips(
    session: Session, tmp_path: Path, filename: str, layer: str, make, columns: list[str], settings: Settings
) -> None:
    import_frame(session, "communities", samples.communities(), settings=settings)
    original = make()
    import_frame(session, layer, original, settings=settings)
    before = layer_frame(session, layer)
    path = tmp_path / filename
    assert export_layer(session, layer, path) == len(original)

    clear(session, {"network": "network_edges"}.get(layer, layer))
    report = import_file(
        session, layer, path, crs="EPSG:4326" if filename.endswith(".csv") else None, settings=settings
    )

    assert report.rejected == [] and report.imported == len(original)
    after = layer_frame(session, layer)
    assert comparable(after, columns) == comparable(before, columns)
    distance = shapely.hausdorff_distance(after.geometry.to_numpy(), before.geometry.to_numpy())
    assert np.all(distance < 1e-8)


def test_layer_in_gauss_kruger_lands_at_the_right_wgs84_place(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    to_gk = Transformer.from_crs(4326, 4549, always_xy=True)
    x, y = to_gk.transform(121.55, 29.87)
    frame = gpd.GeoDataFrame(
        {"category": ["kindergarten"], "name": ["测试幼儿园"]}, geometry=[shapely.Point(x, y)], crs=4549
    )
    frame.to_file(tmp_path / "gk.gpkg")

    report = import_file(session, "facilities", tmp_path / "gk.gpkg", settings=settings)

    assert report.source_crs == "EPSG:4549" and report.imported == 1
    lon, lat = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM facilities")).one()
    assert lon == pytest.approx(121.55, abs=1e-8) and lat == pytest.approx(29.87, abs=1e-8)


def test_csv_with_projected_xy_and_crs_option(session: Session, tmp_path: Path, settings: Settings) -> None:
    to_gk = Transformer.from_crs(4326, 4549, always_xy=True)
    x, y = to_gk.transform(121.551, 29.871)
    (tmp_path / "f.csv").write_text(f"名称,类别,x,y\n便利店,convenience_store,{x},{y}\n", encoding="utf-8")

    report = import_file(session, "facilities", tmp_path / "f.csv", crs="EPSG:4549", settings=settings)

    assert report.imported == 1
    lon, lat = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM facilities")).one()
    assert (round(lon, 7), round(lat, 7)) == (121.551, 29.871)


def test_bad_rows_are_reported_with_row_numbers_and_the_rest_imported(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    good = samples.cell(1, 1)
    bowtie = shapely.Polygon([(121.5501, 29.8701), (121.5503, 29.8703), (121.5503, 29.8701), (121.5501, 29.8703)])
    rows = [
        ({"name": "ok", "households": "12"}, good),
        ({"name": "text households", "households": "twelve"}, good),
        ({"name": "negative", "households": "-3"}, good),
        ({"name": "fraction floors", "households": "4", "floors": "2.5"}, good),
        ({"name": "no geometry", "households": "1"}, None),
        ({"name": "a point", "households": "1"}, shapely.Point(121.55, 29.87)),
        ({"name": "bow-tie", "households": "8"}, bowtie),
        ({"name": "flat", "households": "1"}, shapely.Polygon([(121.55, 29.87), (121.551, 29.87), (121.552, 29.87)])),
    ]
    frame = gpd.GeoDataFrame([r for r, _ in rows], geometry=[g for _, g in rows], crs=4326)
    frame.to_file(tmp_path / "b.geojson")

    report = import_file(session, "buildings", tmp_path / "b.geojson", settings=settings)

    reasons = {p.row: p.reason for p in report.rejected}
    assert set(reasons) == {2, 3, 4, 5, 6, 8}
    assert "households" in reasons[2] and "whole number" in reasons[2]
    assert "minimum" in reasons[3]
    assert "floors" in reasons[4]
    assert reasons[5] == "no geometry"
    assert "expected a polygon" in reasons[6]
    assert "cannot be repaired" in reasons[8]
    assert [p.row for p in report.repaired] == [7]
    assert report.imported == 2
    names = session.execute(text("SELECT name FROM buildings ORDER BY id")).scalars().all()
    assert names == ["ok", "bow-tie"]
    assert session.execute(text("SELECT bool_and(ST_IsValid(footprint)) FROM buildings")).scalar_one()


def test_unknown_facility_category_is_rejected_per_row(session: Session, settings: Settings) -> None:
    frame = samples.facilities()
    frame.loc[1, "category"] = "casino"
    report = import_frame(session, "facilities", frame, settings=settings)
    assert [(p.row, "casino" in p.reason) for p in report.rejected] == [(2, True)]
    assert report.imported == 2


def test_file_without_crs_is_refused_and_nothing_written(session: Session, tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "f.csv").write_text("lon,lat,category\n121.55,29.87,bank\n")
    with pytest.raises(FileRejected, match="--crs"):
        import_file(session, "facilities", tmp_path / "f.csv", settings=settings)
    assert count(session, "facilities") == 0


def test_swapped_lon_lat_is_refused(session: Session, tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "f.csv").write_text("lon,lat,category\n29.87,121.55,bank\n29.88,121.56,bank\n")
    with pytest.raises(FileRejected, match="swapped"):
        import_file(session, "facilities", tmp_path / "f.csv", crs="EPSG:4326", settings=settings)
    assert count(session, "facilities") == 0


def test_one_swapped_row_among_good_ones_is_rejected_alone(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    (tmp_path / "f.csv").write_text("lon,lat,category\n121.55,29.87,bank\n29.88,121.56,bank\n")
    report = import_file(session, "facilities", tmp_path / "f.csv", crs="EPSG:4490", settings=settings)
    assert report.imported == 1
    assert [(p.row, "swapped" in p.reason) for p in report.rejected] == [(2, True)]


def test_projected_layer_with_swapped_axes_is_refused(session: Session, tmp_path: Path, settings: Settings) -> None:
    frame = gpd.GeoDataFrame({"category": ["bank"]}, geometry=[shapely.Point(3_305_000, 552_000)], crs=4549)
    frame.to_file(tmp_path / "f.gpkg")
    with pytest.raises(FileRejected, match="swapped"):
        import_file(session, "facilities", tmp_path / "f.gpkg", settings=settings)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.geojson", '{"type": "FeatureCollection", "features": [', "cannot read"),
        ("notes.txt", "hello", "unsupported file type"),
        ("empty.zip", b"PK\x05\x06" + b"\x00" * 18, "exactly one .shp"),
        ("nogeom.csv", "name,category\nx,bank\n", "WKT column"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(
    session: Session, tmp_path: Path, name: str, content: str | bytes, message: str, settings: Settings
) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(FileRejected, match=message):
        import_file(session, "facilities", path, crs="EPSG:4326", settings=settings)


def test_missing_required_column_is_refused(session: Session, tmp_path: Path, settings: Settings) -> None:
    frame = samples.communities().drop(columns="code")
    with pytest.raises(FileRejected, match="'code' column"):
        import_frame(session, "communities", frame, settings=settings)


def test_duplicate_codes_are_rejected(session: Session, settings: Settings) -> None:
    import_frame(session, "communities", samples.communities(), settings=settings)
    again = samples.communities()
    again.loc[1, "code"] = "330203008009"
    again = gpd.GeoDataFrame(gpd.pd.concat([again, again.iloc[[1]]]), crs=4326)
    report = import_frame(session, "communities", again, settings=settings, mode="insert")
    assert [(p.row, p.reason.split(" ", 2)[2]) for p in report.rejected] == [
        (1, "already exists in communities"),
        (3, "repeats row 2"),
    ]
    # By key (the default), the known community is matched, not refused; a repeated key still is.
    upsert = import_frame(session, "communities", again, settings=settings)
    assert (upsert.inserted, upsert.unchanged) == (0, 2)
    assert [p.row for p in upsert.rejected] == [3]


def test_hierarchy_links_by_code_and_buildings_by_location(session: Session, settings: Settings) -> None:
    streets = gpd.GeoDataFrame(
        {"code": ["330203008"], "name": ["白云街道"], "district_name": ["海曙区"]},
        geometry=[samples.cell(0, 0, samples.STEP * 20)],
        crs=4326,
    )
    import_frame(session, "streets", streets, settings=settings)
    import_frame(session, "buildings", samples.buildings(3), settings=settings)
    import_frame(session, "communities", samples.communities(), settings=settings)

    chain = session.execute(
        text("""
        SELECT c.code, s.code, d.code, d.name, ST_Area(d.boundary) > 0
        FROM communities c JOIN streets s ON s.id = c.street_id JOIN districts d ON d.id = s.district_id
        ORDER BY c.code""")
    ).all()
    assert chain == [
        ("330203008001", "330203008", "330203", "海曙区", True),
        ("330203008002", "330203008", "330203", "海曙区", True),
    ]
    homes = (
        session.execute(
            text("""
        SELECT DISTINCT c.code FROM buildings b JOIN communities c ON c.id = b.community_id""")
        )
        .scalars()
        .all()
    )
    assert homes == ["330203008001"]


def test_grid_layer_becomes_the_published_plan_and_retires_the_previous(session: Session, settings: Settings) -> None:
    import_frame(session, "communities", samples.communities(), settings=settings)
    import_frame(session, "network", samples.streets(), settings=settings)
    first = import_frame(session, "grids", samples.grids(), source="grids-2024.geojson", settings=settings)
    second = import_frame(session, "grids", samples.grids(), source="grids-2025.geojson", settings=settings)

    plans = session.execute(text("SELECT id, name, status, effective_to IS NOT NULL FROM grid_plans ORDER BY id")).all()
    assert plans == [(first.plan_id, "grids-2024", "retired", True), (second.plan_id, "grids-2025", "published", False)]
    linked = session.execute(
        text("""
        SELECT g.code, c.code FROM grids g JOIN communities c ON c.id = g.community_id
        WHERE g.plan_id = :p ORDER BY g.code"""),
        {"p": second.plan_id},
    ).all()
    assert [(g[-4:], c[-3:]) for g, c in linked] == [("0101", "001"), ("0102", "001"), ("0201", "002"), ("0202", "002")]


def test_network_edges_get_metric_lengths_and_multilines_are_split(session: Session, settings: Settings) -> None:
    frame = samples.network()
    frame.loc[2, "geometry"] = shapely.MultiLineString(
        [[(121.551, 29.87), (121.551, 29.871)], [(121.552, 29.87), (121.552, 29.871)]]
    )
    report = import_frame(session, "network", frame, settings=settings)
    assert report.imported == 4 and any("split" in n for n in report.notes)
    lengths = session.execute(text("SELECT length_m FROM network_edges ORDER BY id")).scalars().all()
    geodesic = session.execute(text("SELECT ST_Length(geom::geography) FROM network_edges ORDER BY id")).scalars()
    for planar, true_length in zip(lengths, geodesic, strict=True):
        assert planar == pytest.approx(true_length, rel=2e-3)
    assert session.execute(text("SELECT value FROM meta WHERE key = 'metric_epsg'")).scalar_one() == "4550"


def test_import_report_serialises(session: Session, settings: Settings) -> None:
    report = import_frame(session, "facilities", samples.facilities(), source="f.geojson", settings=settings)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["layer"] == "facilities" and data["imported"] == 3


def test_imported_grid_layer_faults_are_reported_and_the_plan_has_none(session: Session, settings: Settings) -> None:
    import_frame(session, "communities", samples.communities(), settings=settings)
    import_frame(session, "network", samples.streets(), settings=settings)
    import_frame(session, "buildings", samples.buildings(12), settings=settings)
    layer = samples.grids()
    x0, y0, s = samples.ORIGIN[0], samples.ORIGIN[1], samples.STEP
    layer.loc[0, "geometry"] = shapely.box(x0, y0, x0 + 4.5 * s, y0 + 10 * s)  # gap, and cuts building 5
    layer.loc[2, "geometry"] = shapely.box(x0 + 10 * s, y0, x0 + 15.5 * s, y0 + 10 * s)  # overlaps its neighbour

    report = import_frame(session, "grids", layer, settings=settings)

    kinds = {f["type"] for f in report.findings}
    assert {"gap", "overlap", "building_not_in_one_grid"} <= kinds
    assert any("as drawn" in n and "overlap" in n for n in report.notes)
    plan = report.plan_id
    unassigned, homeless = session.execute(
        text("""
        SELECT (SELECT count(*) FROM units u WHERE NOT EXISTS
                   (SELECT 1 FROM assignments a WHERE a.plan_id = :p AND a.unit_id = u.id)),
               (SELECT count(*) FROM buildings WHERE unit_id IS NULL)"""),
        {"p": plan},
    ).one()
    assert (unassigned, homeless) == (0, 0)
    overlap = session.execute(
        text("""
        SELECT COALESCE(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0) FROM grids a
        JOIN grids b ON a.plan_id = b.plan_id AND a.id < b.id AND ST_Intersects(a.geom, b.geom)
        WHERE a.plan_id = :p"""),
        {"p": plan},
    ).scalar_one()
    assert overlap < 0.01  # m²: grids are unions of units now
    households = session.execute(text("SELECT sum(households) FROM grids WHERE plan_id = :p"), {"p": plan}).scalar()
    assert households == sum(10 * (i + 1) for i in range(12))


def test_missing_text_values_are_null_not_the_text_nan(session: Session, settings: Settings) -> None:
    frame = samples.buildings(3)
    frame["compound"] = ["华泰小区", None, float("nan")]
    import_frame(session, "buildings", frame, settings=settings)
    compounds = session.execute(text("SELECT compound FROM buildings ORDER BY id")).scalars().all()
    assert compounds == ["华泰小区", None, None]
