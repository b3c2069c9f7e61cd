"""Living base data against real PostGIS: imports by key in four modes, history, batches and their undo, and every
plan carried through the change (the demo district: units, a published plan)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gis.basedata import keyed
from gis.basedata.undo import undo_batch
from gis.errors import Conflict, InvalidInput, NotFound
from gis.exchange.exports import export_layer, layer_frame
from gis.exchange.load import import_file, import_frame
from gis.plans.store import current_plan_id
from gis.plans.validation import validate_plan
from gis.settings import Settings
from tests import samples


def scalar(session: Session, sql: str, **params: object) -> object:
    return session.execute(text(sql), params).scalar()


def versions(session: Session, building_id: int) -> list[tuple]:
    return [
        tuple(r)
        for r in session.execute(
            text("""SELECT version, change, households, valid_to IS NULL AS open, batch_id
                    FROM buildings_history WHERE id = :id ORDER BY version"""),
            {"id": building_id},
        )
    ]


def test_a_keyless_file_imported_twice_stores_each_building_once(session: Session, settings: Settings) -> None:
    import_frame(session, "communities", samples.communities(), settings=settings)
    first = import_frame(session, "buildings", samples.buildings(), settings=settings)
    assert (first.inserted, first.updated, first.unchanged) == (12, 0, 0)
    second = import_frame(session, "buildings", samples.buildings(), settings=settings)
    assert (second.inserted, second.updated, second.unchanged, second.retired) == (0, 0, 12, 0)
    assert scalar(session, "SELECT count(*) FROM buildings") == 12
    assert scalar(session, "SELECT count(*) FROM buildings_history") == 12  # no new version either
    assert second.batch_id is not None and second.batch_id != first.batch_id
    # Keys made from the geometry are stored, and an export carries them.
    codes = layer_frame(session, "buildings")["code"]
    assert codes.notna().all() and codes.str.startswith("g").all() and codes.is_unique


def test_an_export_imports_onto_the_same_rows(demo_session: Session, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "buildings.gpkg"
    count = export_layer(demo_session, "buildings", path)
    report = import_file(demo_session, "buildings", path, settings=settings)
    assert (report.inserted, report.updated, report.retired, report.unchanged) == (0, 0, 0, count)
    assert report.coverage_run is None  # nothing changed: coverage stays as it is


def test_upsert_updates_what_differs_and_keeps_each_version(session: Session, settings: Settings) -> None:
    samples.load_town(session, settings)
    frame = layer_frame(session, "buildings")
    target = frame.iloc[0]
    frame.loc[frame.index[0], "households"] = int(target["households"]) + 7
    report = import_frame(session, "buildings", frame, settings=settings)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, len(frame) - 1)
    building = scalar(session, "SELECT id FROM buildings WHERE code = :c", c=target["code"])
    history = versions(session, building)
    assert [(v, c, h, o) for v, c, h, o, _ in history] == [
        (1, "insert", int(target["households"]), False),
        (2, "update", int(target["households"]) + 7, True),
    ]
    assert history[1][4] == report.batch_id


def test_a_blank_cell_keeps_the_stored_value(session: Session, settings: Settings) -> None:
    samples.load_town(session, settings)
    frame = layer_frame(session, "buildings")
    before = dict(session.execute(text("SELECT code, households FROM buildings")).all())
    frame["households"] = None
    frame["name"] = None
    report = import_frame(session, "buildings", frame, settings=settings)
    assert report.updated == 0
    assert dict(session.execute(text("SELECT code, households FROM buildings")).all()) == before


def test_update_mode_takes_a_register_without_geometry(session: Session, settings: Settings, tmp_path: Path) -> None:
    samples.load_town(session, settings)
    codes = [c for (c,) in session.execute(text("SELECT code FROM buildings ORDER BY id LIMIT 2"))]
    register = tmp_path / "register.csv"
    register.write_text(
        f"标准地址编码,户数,常住人口\n{codes[0]},44,120\nnot-a-building,3,9\n{codes[1]},,77\n", encoding="utf-8"
    )
    report = import_file(session, "buildings", register, settings=settings, mode="update")
    assert (report.updated, report.inserted) == (2, 0)
    assert [(p.row, p.reason) for p in report.rejected] == [
        (2, "code not-a-building is not in buildings (update changes known rows only)")
    ]
    rows = {
        r.code: (r.households, r.population_resident)
        for r in session.execute(
            text("SELECT code, households, population_resident FROM buildings WHERE code = ANY(:c)"), {"c": codes}
        )
    }
    assert rows[codes[0]] == (44, 120)
    assert rows[codes[1]][1] == 77  # the blank household cell kept the stored count
    assert scalar(session, "SELECT count(*) FROM buildings") == 12


def test_insert_mode_refuses_known_keys_per_row(session: Session, settings: Settings) -> None:
    samples.load_town(session, settings)
    frame = layer_frame(session, "buildings").iloc[:3]
    report = import_frame(session, "buildings", frame, settings=settings, mode="insert")
    assert report.inserted == 0
    assert [p.row for p in report.rejected] == [1, 2, 3]
    assert all("already exists" in p.reason for p in report.rejected)


def test_replace_in_a_scope_retires_what_the_file_leaves_out(demo_session: Session, settings: Settings) -> None:
    community = scalar(
        demo_session,
        "SELECT c.code FROM communities c JOIN buildings b ON b.community_id = c.id "
        "GROUP BY c.code ORDER BY count(*) DESC LIMIT 1",
    )
    frame = layer_frame(demo_session, "buildings")
    inside = frame[frame["community_code"] == community]
    left_out = inside.iloc[:2]
    total = scalar(demo_session, "SELECT count(*) FROM buildings")
    report = import_frame(
        demo_session,
        "buildings",
        inside.iloc[2:],
        settings=settings,
        mode="replace",
        scope={"community": community},
    )
    assert (report.retired, report.inserted, report.updated) == (2, 0, 0)
    assert scalar(demo_session, "SELECT count(*) FROM buildings") == total - 2
    # Retired, not deleted: the history keeps the last version, closed by this batch.
    closed = demo_session.execute(
        text("SELECT count(*), bool_and(closed_by = :b) FROM buildings_history WHERE code = ANY(:c)"),
        {"b": report.batch_id, "c": list(left_out["code"])},
    ).one()
    assert tuple(closed) == (2, True)
    # Other communities are out of the scope: untouched.
    assert report.unchanged == len(inside) - 2
    plan = current_plan_id(demo_session)
    assert plan is not None and validate_plan(demo_session, plan).valid


def test_replace_does_not_retire_a_row_whose_new_version_was_rejected(session: Session, settings: Settings) -> None:
    samples.load_town(session, settings)
    frame = layer_frame(session, "buildings")
    frame.loc[frame.index[0], "households"] = -5  # rejected row: below the minimum
    report = import_frame(session, "buildings", frame, settings=settings, mode="replace")
    assert [p.row for p in report.rejected] == [1] and report.retired == 0
    assert scalar(session, "SELECT count(*) FROM buildings") == 12


def test_a_retired_key_imported_again_comes_back_on_its_row(session: Session, settings: Settings) -> None:
    samples.load_town(session, settings)
    frame = layer_frame(session, "buildings")
    gone = frame.iloc[0]
    old_id = scalar(session, "SELECT id FROM buildings WHERE code = :c", c=gone["code"])
    import_frame(session, "buildings", frame.iloc[1:], settings=settings, mode="replace")
    assert scalar(session, "SELECT count(*) FROM buildings WHERE code = :c", c=gone["code"]) == 0
    back = import_frame(session, "buildings", frame.iloc[:1], settings=settings)
    assert (back.inserted, back.revived) == (1, 1)
    assert scalar(session, "SELECT id FROM buildings WHERE code = :c", c=gone["code"]) == old_id
    assert [c for _, c, *_ in versions(session, int(old_id))] == ["insert", "revive"]


def test_undo_reverts_a_whole_batch(session: Session, settings: Settings) -> None:
    samples.load_town(session, settings)
    frame = layer_frame(session, "buildings")
    before = dict(session.execute(text("SELECT code, households FROM buildings")).all())
    changed = frame.copy()
    changed["households"] = changed["households"] + 1
    extra = samples.buildings(13).iloc[12:].assign(code="NEW-1")
    changed = pd.concat([changed.iloc[1:], extra.to_crs(frame.crs)], ignore_index=True)
    report = import_frame(session, "buildings", changed, settings=settings, mode="replace")
    assert (report.updated, report.inserted, report.retired) == (11, 1, 1)
    undone = undo_batch(session, settings, report.batch_id, actor="tester")
    assert undone.written.counts() | {"unchanged": 0} == {
        "inserted": 1,
        "updated": 11,
        "unchanged": 0,
        "retired": 1,
        "rejected": 0,
    }
    assert dict(session.execute(text("SELECT code, households FROM buildings")).all()) == before
    assert scalar(session, "SELECT undone_by FROM import_batches WHERE id = :b", b=report.batch_id) == (
        undone.undo_batch_id
    )
    with pytest.raises(Conflict, match="undone already"):
        undo_batch(session, settings, report.batch_id, actor="tester")


def test_undo_is_refused_when_a_later_batch_changed_its_rows(session: Session, settings: Settings) -> None:
    samples.load_town(session, settings)
    frame = layer_frame(session, "buildings")
    first = import_frame(session, "buildings", frame.assign(households=frame["households"] + 1), settings=settings)
    import_frame(session, "buildings", frame.iloc[:1].assign(households=99), settings=settings)
    with pytest.raises(Conflict, match="1 of its buildings rows changed since"):
        undo_batch(session, settings, first.batch_id, actor="tester")
    with pytest.raises(NotFound):
        undo_batch(session, settings, 999_999, actor="tester")


def test_modes_are_checked(session: Session, settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="mode"):
        import_frame(session, "network", samples.network(), settings=settings, mode="upsert")
    with pytest.raises(InvalidInput, match="scope"):
        import_frame(session, "buildings", samples.buildings(), settings=settings, scope={"community": "x"})
    with pytest.raises(InvalidInput, match="re-division"):
        import_frame(session, "communities", samples.communities(), settings=settings, mode="replace")


def test_a_new_building_keeps_the_published_plan_valid_and_lies_in_the_grid_of_its_ground(
    demo_session: Session, settings: Settings
) -> None:
    plan = current_plan_id(demo_session)
    assert plan is not None
    # An open unit of the published plan: ground with no building, where a new compound building goes up.
    unit, grid, community, centre = demo_session.execute(
        text("""SELECT u.id, a.grid_id, c.code, ST_AsBinary(ST_PointOnSurface(u.geom))
                FROM units u JOIN assignments a ON a.unit_id = u.id AND a.plan_id = :plan
                JOIN communities c ON c.id = u.community_id
                WHERE u.kind = 'open' ORDER BY u.area_m2 DESC LIMIT 1"""),
        {"plan": plan},
    ).one()
    point = shapely.from_wkb(centre)
    footprint = shapely.box(point.x - 0.00008, point.y - 0.00006, point.x + 0.00008, point.y + 0.00006)
    households_before = scalar(demo_session, "SELECT households FROM grids WHERE id = :g", g=grid)
    new = gpd.GeoDataFrame(
        {"code": ["NEW-TOWER-1"], "households": [88], "residential": [True]}, geometry=[footprint], crs=4326
    )
    report = import_frame(demo_session, "buildings", new, settings=settings)
    assert report.inserted == 1
    building_unit = scalar(demo_session, "SELECT unit_id FROM buildings WHERE code = 'NEW-TOWER-1'")
    assert building_unit is not None and building_unit != unit
    assert (
        scalar(
            demo_session, "SELECT grid_id FROM assignments WHERE plan_id = :p AND unit_id = :u", p=plan, u=building_unit
        )
        == grid
    )
    assert scalar(demo_session, "SELECT households FROM grids WHERE id = :g", g=grid) == households_before + 88
    result = validate_plan(demo_session, plan)
    assert result.valid, result.errors
    assert community is not None


def test_a_moved_community_border_takes_its_buildings_and_keeps_plans_whole(
    session: Session, settings: Settings
) -> None:
    samples.load_town(session, settings)
    plan = current_plan_id(session)
    moved = samples.communities()
    west, south, east, north = moved.total_bounds
    border = west + samples.STEP * 8  # two cells west of where it was: the ninth building changes community
    moved.geometry = [shapely.box(west, south, border, north), shapely.box(border, south, east, north)]
    report = import_frame(session, "communities", moved, settings=settings)
    assert (report.updated, report.inserted) == (2, 0)
    assert any("1 buildings now lie in another community" in n for n in report.notes)
    assert (
        scalar(
            session,
            "SELECT c.code FROM buildings b JOIN communities c ON c.id = b.community_id WHERE b.name = '9幢'",
        )
        == "330203008002"
    )
    # Units rebuilt on the new border, and no unit of either community is left out of the published plan.
    assert (
        scalar(
            session,
            """SELECT count(*) FROM units u WHERE NOT EXISTS
           (SELECT 1 FROM assignments a WHERE a.plan_id = :p AND a.unit_id = u.id)""",
            p=plan,
        )
        == 0
    )
    assert scalar(session, "SELECT count(*) FROM buildings WHERE unit_id IS NULL") == 0
    assert scalar(session, "SELECT sum(households) FROM grids WHERE plan_id = :p", p=plan) == sum(
        10 * (i + 1) for i in range(12)
    )


def secondary_indexes(session: Session) -> dict[str, tuple[int, str]]:
    """The non-unique indexes of buildings and their history: name → (oid, definition)."""
    rows = session.execute(
        text("""SELECT c.relname, c.oid, pg_get_indexdef(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid IN ('buildings'::regclass, 'buildings_history'::regclass) AND NOT i.indisunique""")
    )
    return {name: (int(oid), definition) for name, oid, definition in rows}


def batch_references(session: Session) -> list[str]:
    return sorted(
        session.execute(
            text("""SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
                    WHERE conrelid = 'buildings_history'::regclass AND contype = 'f'""")
        ).scalars()
    )


def test_a_first_load_builds_the_secondary_indexes_once_after_the_rows(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyed, "BULK_ROWS", 5)  # a city's 50,000, scaled to the sample
    import_frame(session, "communities", samples.communities(), settings=settings)
    before, references = secondary_indexes(session), batch_references(session)
    assert {"ix_buildings_footprint", "ix_buildings_history_footprint", "ix_buildings_history_code"} <= set(before)
    assert len(references) == 2

    first = import_frame(session, "buildings", samples.buildings(), settings=settings)  # into an empty table
    assert first.inserted == 12
    after = secondary_indexes(session)
    # Built anew (new oids), exactly as defined, and the history's references to the batch log are back. The
    # history's index on codes stayed: the insert looks up the old rows of returning keys by it.
    assert {n: d for n, (_, d) in after.items()} == {n: d for n, (_, d) in before.items()}
    assert {n for n in before if after[n][0] == before[n][0]} == {"ix_buildings_history_code"}
    assert batch_references(session) == references
    assert scalar(session, "SELECT count(*) FROM buildings_history WHERE batch_id = :b", b=first.batch_id) == 12
    near = scalar(
        session,
        "SELECT count(*) FROM buildings b, communities c WHERE c.code = :c AND b.footprint && c.boundary",
        c=samples.communities()["code"].iloc[0],
    )
    assert near and near > 0

    # A load that does not double the table keeps the indexes as they are (readers never wait on it).
    more = samples.buildings(13).iloc[12:].assign(code="NEW-1")
    assert import_frame(session, "buildings", more, settings=settings).inserted == 1
    assert secondary_indexes(session) == after


def test_a_failed_bulk_load_leaves_the_indexes_and_references(session: Session) -> None:
    before, references = secondary_indexes(session), batch_references(session)
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(text("SELECT gridmap_buildings_bulk_begin()"))
        assert set(secondary_indexes(session)) == {"ix_buildings_history_code"} and not batch_references(session)
        session.execute(text("SELECT 1 / 0"))  # the import fails half-way
    assert secondary_indexes(session) == before and batch_references(session) == references
