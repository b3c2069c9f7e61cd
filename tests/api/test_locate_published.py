"""/api/locate from each process's in-memory published plan (gis/locate/published.py), kept current by NOTIFY.

These tests commit (a notification is only sent on commit), so they work on a demo database of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from gis.db.engine import make_engine, transaction
from gis.exchange.demo import load_demo
from gis.incidents.workers import assign_worker
from gis.locate import published
from gis.locate.point import locate
from gis.plans import lifecycle
from gis.settings import Settings
from tests.conftest import fresh_database, rolled_back


@pytest.fixture(scope="module")
def own_engine(settings: Settings) -> Iterator[Engine]:
    engine = fresh_database(settings, "locate_published")
    with transaction(engine) as session:
        load_demo(session, settings)
    yield engine
    engine.dispose()


@contextmanager
def app_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app on `engine` (pass a separate engine for "another server process": no shared commit events)."""
    with TestClient(create_app(settings, engine=engine), raise_server_exceptions=False) as client:
        wait_for(lambda: client.app.state.published_plan.snapshot is not None)  # type: ignore[attr-defined]
        yield client


@contextmanager
def second_engine(engine: Engine) -> Iterator[Engine]:
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        yield other
    finally:
        other.dispose()


def wait_for(condition: Callable[[], Any], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def plan(client: TestClient) -> published.PublishedPlan:
    return client.app.state.published_plan  # type: ignore[attr-defined,no-any-return]


def inner_point(engine: Engine) -> tuple[float, float, str]:
    """A building's representative point (well inside a grid) and that grid's code in the published plan."""
    with engine.connect() as conn:
        lon, lat, code = conn.execute(
            text("""
            SELECT ST_X(p), ST_Y(p), g.code FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings
                                                  ORDER BY id LIMIT 1) b
            JOIN grids g ON ST_Covers(g.geom, b.p)
            JOIN grid_plans pl ON pl.id = g.plan_id AND pl.status = 'published'""")
        ).one()
    return lon, lat, code


def answer(client: TestClient, lon: float, lat: float) -> dict[str, Any]:
    response = client.get("/api/locate", params={"lon": lon, "lat": lat})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    del body["input"]
    return body


def version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT version FROM locate_version")).scalar_one())


def test_answers_from_memory_are_the_database_answers(own_engine: Engine, settings: Settings) -> None:
    with own_engine.connect() as conn:
        west, south, east, north = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom)::geometry e "
                "FROM grids) s"
            )
        ).one()
    # Over the grids' extent and a kilometre or so around it: inside, snapped and outside points.
    rng = np.random.default_rng(18)
    pad = 0.01
    points = np.column_stack([rng.uniform(west - pad, east + pad, 1500), rng.uniform(south - pad, north + pad, 1500)])
    lon, lat, _ = inner_point(own_engine)
    points = np.vstack([points, [[lon, lat]]])
    assign_worker_committed(own_engine, "zhaolei", inner_point(own_engine)[2], "赵磊")
    with app_client(settings, own_engine) as client, rolled_back(own_engine) as session:
        snapshot = plan(client).snapshot
        assert snapshot is not None and snapshot.version == version(own_engine)
        statuses: dict[str, int] = {}
        from_database = 0
        for x, y in points:
            expected = locate(session, float(x), float(y))
            in_memory = snapshot.locate(float(x), float(y), settings.locate_snap_m)
            if in_memory is None:
                from_database += 1  # a near tie or rounding boundary: the database answers
            else:
                assert in_memory == expected, (x, y)
                statuses[expected["status"]] = statuses.get(expected["status"], 0) + 1
        assert statuses.get("inside", 0) > 150 and statuses.get("outside", 0) > 300 and statuses.get("snapped")
        assert from_database < len(points) * 0.05
        for x, y in points[::10]:  # and the route sends the same, whichever path answered
            assert answer(client, float(x), float(y)) == locate(session, float(x), float(y))
        assert any(w["name"] == "赵磊" for w in answer(client, lon, lat)["workers"])


def assign_worker_committed(engine: Engine, username: str, grid_code: str, name: str) -> None:
    with transaction(engine) as session:
        assign_worker(session, username, grid_code, display_name=name)


def publish_copy(session: Session) -> int:
    """A copy of the current plan, published: the same grids under a new plan id."""
    draft = lifecycle.create_plan(session, base="current", name="下一版", actor="test")
    lifecycle.publish(session, draft["id"], version=draft["version"], actor="test")
    return int(draft["id"])


def test_publish_reaches_the_next_locate_here_and_in_another_process(own_engine: Engine, settings: Settings) -> None:
    lon, lat, code = inner_point(own_engine)
    with (
        second_engine(own_engine) as other,
        app_client(settings, own_engine) as here,
        app_client(settings, other) as there,
    ):
        before = answer(here, lon, lat)
        assert answer(there, lon, lat) == before
        assert plan(there).listening

        with transaction(own_engine) as session:
            new_plan = publish_copy(session)

        # This process committed the publish: its very next answer is from the new plan.
        found = answer(here, lon, lat)
        assert found["plan_id"] == new_plan != before["plan_id"] and found["grid"]["code"] == code
        # The other process hears of it by NOTIFY (it wrote nothing, and its listener is up: no version checks)
        # and rebuilds its copy; until then the database answers, so it never gives the old plan once notified.
        wait_for(lambda: (s := plan(there).snapshot) is not None and s.version == version(own_engine))
        assert plan(there).snapshot.locate(lon, lat)["plan_id"] == new_plan  # type: ignore[union-attr]
        assert answer(there, lon, lat) == found


def test_a_reassigned_worker_changes_the_answer(own_engine: Engine, settings: Settings) -> None:
    lon, lat, code = inner_point(own_engine)
    with (
        second_engine(own_engine) as other,
        app_client(settings, own_engine) as here,
        app_client(settings, other) as there,
    ):
        assert "李娜" not in [w["name"] for w in answer(here, lon, lat)["workers"]]
        assign_worker_committed(own_engine, "lina", code, "李娜")
        assert "李娜" in [w["name"] for w in answer(here, lon, lat)["workers"]]
        wait_for(lambda: "李娜" in [w["name"] for w in answer(there, lon, lat)["workers"]])

        # Reassigned to another grid: gone from this grid's answer.
        with transaction(own_engine) as session:
            other_code = session.execute(
                text("""SELECT g.code FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
                        WHERE g.code <> :code ORDER BY g.code LIMIT 1"""),
                {"code": code},
            ).scalar_one()
            session.execute(
                text("DELETE FROM grid_workers WHERE user_id = (SELECT id FROM users WHERE username = 'lina')")
            )
            assign_worker(session, "lina", other_code)
        assert "李娜" not in [w["name"] for w in answer(here, lon, lat)["workers"]]
        wait_for(lambda: "李娜" not in [w["name"] for w in answer(there, lon, lat)["workers"]])
        wait_for(lambda: (s := plan(there).snapshot) is not None and s.version == version(own_engine))


class _NoListening:
    """Stands in for psycopg's AsyncConnection in gis.locate.published: LISTEN cannot connect (like a standby)."""

    @staticmethod
    async def connect(*_: Any, **__: Any) -> None:
        raise psycopg.OperationalError("cannot execute LISTEN during recovery")


def test_without_a_listener_the_version_is_checked(
    own_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(published, "AsyncConnection", _NoListening)
    lon, lat, code = inner_point(own_engine)
    assign_worker_committed(own_engine, "sunqiang", code, "孙强")
    with second_engine(own_engine) as other, app_client(settings, other) as deaf:
        assert not plan(deaf).listening
        plan(deaf).recheck_s = 0.05
        assert "孙强" in [w["name"] for w in answer(deaf, lon, lat)["workers"]]
        # A change committed by another process, and no notification heard: the version check finds it.
        with transaction(own_engine) as session:
            session.execute(text("UPDATE users SET display_name = '孙强强' WHERE username = 'sunqiang'"))
        wait_for(lambda: "孙强强" in [w["name"] for w in answer(deaf, lon, lat)["workers"]])
        wait_for(lambda: (s := plan(deaf).snapshot) is not None and s.version == version(own_engine))
        assert not plan(deaf).listening


def test_the_version_goes_up_once_per_change_and_not_for_drafts(own_engine: Engine) -> None:
    with rolled_back(own_engine) as session:

        def bumped() -> int:
            session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the deferred triggers run now, not at commit
            return int(session.execute(text("SELECT version FROM locate_version")).scalar_one())

        start = bumped()
        draft = lifecycle.create_plan(session, base="current", name="草稿", actor="test")
        session.execute(text("UPDATE grids SET name = 'x' WHERE plan_id = :p"), {"p": draft["id"]})
        session.execute(text("UPDATE grid_plans SET version = version + 1 WHERE id = :p"), {"p": draft["id"]})
        session.execute(text("UPDATE users SET role = role"))
        assert bumped() == start  # drafts and columns no answer holds: no change
        session.execute(
            text("""UPDATE grids SET name = 'y'
                    WHERE plan_id = (SELECT id FROM grid_plans WHERE status = 'published')""")
        )
        session.execute(text("UPDATE communities SET name = name || '社区'"))
        assert bumped() == start + 1  # once for the whole transaction


def test_the_hot_path_answers_as_the_documented_route(own_engine: Engine, settings: Settings) -> None:
    from api.routers import locate as route

    lon, lat, _ = inner_point(own_engine)
    with app_client(settings, own_engine) as client:
        before = route._FastLocate.calls
        fast = client.get("/api/locate", params={"lon": lon, "lat": lat})
        assert route._FastLocate.calls == before + 1
        # A parameter the hot path does not know: the documented FastAPI route answers, the same way.
        documented = client.get("/api/locate", params={"lon": lon, "lat": lat, "extra": "1"})
        assert route._FastLocate.calls == before + 1
        assert fast.status_code == documented.status_code == 200 and fast.json() == documented.json()
        assert fast.headers["content-type"] == documented.headers["content-type"] == "application/json"
        assert fast.headers["x-content-type-options"] == documented.headers["x-content-type-options"]
        # Errors come from the same checks with the same problem answers, whichever route takes them.
        swapped = client.get("/api/locate", params={"lon": lat, "lat": lon})
        assert swapped.status_code == 422 and "swapped" in swapped.text
        assert client.get("/api/locate", params={"lon": "1,5", "lat": lat}).status_code == 422
        # What the hot path hands on gets the checks of every route (no NUL characters anywhere: 422).
        nul = client.get("/api/locate", params={"lon": lon, "lat": lat, "note": "a\x00b"})
        assert nul.status_code == 422 and "NUL" in nul.text
        assert client.head("/api/locate", params={"lon": lon, "lat": lat}).status_code == 200
