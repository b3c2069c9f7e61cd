"""Public answers name staff by display name, never by login: grid workers need one, other accounts get their
role's label and id, migration 0009 gives one to every account that had none (or had its login as one), and
actors in logs map to public names. The route-by-route sweep is in test_privacy.py."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.auth import users
from gis.db.cluster import ensure_database
from gis.db.engine import upgrade
from gis.errors import InvalidInput
from gis.incidents.workers import add_user, assign_worker
from gis.locate.point import locate
from tests.conftest import GridmapClient


def _published_grid(session: Session) -> tuple[str, float, float]:
    row = session.execute(
        text("""SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
                FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
                ORDER BY g.code LIMIT 1""")
    ).one()
    return row.code, row.lon, row.lat


def test_a_new_grid_worker_needs_a_display_name_and_locate_shows_only_it(demo_session: Session) -> None:
    code, lon, lat = _published_grid(demo_session)
    with pytest.raises(InvalidInput) as missing:
        assign_worker(demo_session, "zq7-new-worker", code)  # `gridmap worker assign` without --name
    assert missing.value.where == "display_name"
    with pytest.raises(InvalidInput):
        add_user(demo_session, "zq7-new-worker", "grid_worker", actor="test", grids=[code])
    with pytest.raises(InvalidInput) as as_login:
        assign_worker(demo_session, "zq7-new-worker", code, display_name="ZQ7-New-Worker")
    assert as_login.value.where == "display_name"

    assign_worker(demo_session, "zq7-new-worker", code, display_name="网格员孙七")
    # An account of another role given a grid keeps its role-and-id name unless one is given.
    dispatcher = users.create_user(demo_session, "zq7-dispatch", "dispatcher", actor="test")
    assert dispatcher["display_name"] == f"调度员 {dispatcher['id']}"
    assign_worker(demo_session, "zq7-dispatch", code)
    names = [w["name"] for w in locate(demo_session, lon, lat)["workers"]]
    assert "网格员孙七" in names and f"调度员 {dispatcher['id']}" in names
    assert not any("zq7" in name for name in names)

    assign_worker(demo_session, "zq7-dispatch", code, display_name="调度员周八")  # a name given later replaces it
    assert "调度员周八" in [w["name"] for w in locate(demo_session, lon, lat)["workers"]]


def test_display_names_are_checked(client: GridmapClient) -> None:
    made = client.post("/api/users", json={"name": "li", "role": "planner"})
    assert made.status_code == 201 and re.fullmatch(r"网格管理员 \d+", made.json()["display_name"])
    for bad in ("   ", "LI", ""):
        refused = client.patch("/api/users/li", json={"display_name": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert "display_name" in refused.text
    assert client.patch("/api/users/li", json={"display_name": "李工"}).json()["display_name"] == "李工"
    # The database keeps the rule too: no account without a display name.
    with pytest.raises(IntegrityError), client.session.begin_nested():
        client.session.execute(text("UPDATE users SET display_name = NULL WHERE username = 'li'"))


def test_actors_in_logs_map_to_public_names(session: Session) -> None:
    worker = users.create_user(session, "zq7-worker", "grid_worker", actor="test", display_name="王芳")
    shown = users.public_names(session, ["zq7-worker", "public", "open311", "system", "cli:root", "gone-user"])
    assert shown == {
        "zq7-worker": "王芳",
        "public": "public",
        "open311": "open311",
        "system": "system",
        "cli:root": "命令行",  # an OS login is no more the public's business than an account's
        "gone-user": "工作人员",
    }
    rows = [{"actor": "zq7-worker", "action": "start"}, {"actor": None, "action": "x"}]
    assert users.with_public_actors(session, rows) == [{"actor": "王芳", "action": "start"}, rows[1]]
    staff = users.Principal(worker["id"], "zq7-worker", "grid_worker", via="password")
    assert users.actors_for(session, staff, rows) is rows
    assert users.actors_for(session, users.ANONYMOUS, rows)[0]["actor"] == "王芳"


# -- migration 0009 ----------------------------------------------------------------------------------------------


@pytest.fixture
def at_0008(engine) -> Iterator[str]:
    """A database migrated up to 0008, before display names were required."""
    url = make_url(engine.url.render_as_string(False))
    name = f"{url.database}_names_0008"
    ensure_database(url.set(database="postgres").render_as_string(False), name, recreate=True)
    database = url.set(database=name).render_as_string(False)
    upgrade(database, "0008")
    yield database


def test_migration_0009_names_every_account_without_using_its_login(at_0008: str) -> None:
    engine = create_engine(at_0008)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("""INSERT INTO users (id, username, display_name, role, active) VALUES
                        (11, 'wangfang', NULL, 'grid_worker', true), (12, 'zhang', 'zhang', 'dispatcher', true),
                        (13, 'li', '  ', 'viewer', true), (14, 'zhao', '赵工', 'planner', true),
                        (15, 'gone', NULL, 'admin', false)""")
            )
            connection.execute(
                text("""INSERT INTO api_tokens (user_id, token_hash, prefix) VALUES
                        (14, repeat('a', 64), 'gmt_aaaaaa'), (15, repeat('b', 64), 'gmt_bbbbbb')""")
            )
        upgrade(at_0008)
        with engine.connect() as connection:
            names = dict(connection.execute(text("SELECT username, display_name FROM users ORDER BY id")).all())
            generations = set(connection.execute(text("SELECT token_generation FROM users")).scalars())
            revoked = dict(connection.execute(text("SELECT user_id, revoked_at IS NOT NULL FROM api_tokens")).all())
    finally:
        engine.dispose()
    assert names == {
        "wangfang": "网格员 11",
        "zhang": "调度员 12",
        "li": "查看员 13",
        "zhao": "赵工",
        "gone": "管理员 15",
    }
    assert generations == {0}
    assert revoked == {14: False, 15: True}  # a disabled account's API tokens do not come back with it
