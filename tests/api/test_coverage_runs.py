"""Coverage runs in the background, on a committed database: the real thread, progress and the report;
runs left running by a dead server are marked failed, queued ones stay for the next worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gis.coverage.runs import RUN_LOCK, fail_abandoned
from gis.db.engine import transaction
from gis.settings import Settings
from tests.accounts import headers_for
from tests.api.test_coverage import hand_built_town
from tests.conftest import fresh_database


@pytest.fixture(scope="module")
def runs_engine(settings: Settings) -> Iterator[Engine]:
    engine = fresh_database(settings, "test_runs")
    with transaction(engine) as session:
        hand_built_town(session, settings)
    yield engine
    engine.dispose()


def test_a_background_run_reports_progress_and_its_result(runs_engine: Engine, settings: Settings) -> None:
    with TestClient(create_app(settings, engine=runs_engine)) as client:
        with transaction(runs_engine) as session:  # committed: this app reads through its own sessions
            client.headers.update(headers_for(session, client.app.state.signing_key, "planner", "planner-li"))
        started = client.post("/api/coverage/runs", json={"categories": ["park", "bank"]})
        assert started.status_code == 202, started.text
        href = started.headers["location"]
        deadline = time.monotonic() + 60
        while (run := client.get(href).json())["status"] in {"queued", "running"} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run["status"] == "done", run
        assert (
            run["progress"] == 1 and run["actor"] == "planner-li" and run["report"]["categories"] == ["bank", "park"]
        )  # registry order
        rows = client.get("/api/coverage", params={"category": "park", "minutes": 5}).json()
        assert rows["run"]["id"] == run["id"] and not rows["run"]["stale"]
        assert rows["rows"][0]["households_covered"] == 30
        assert client.post("/api/coverage/runs", json={"categories": ["casino"]}).status_code == 422


def test_runs_of_a_dead_server_are_marked_failed_but_live_ones_are_not(runs_engine: Engine) -> None:
    with transaction(runs_engine) as session:
        dead, alive, queued = session.execute(
            text("""INSERT INTO coverage_runs (status, actor, created_at)
                    VALUES ('running', 't', now() - interval '1 minute'), ('running', 't', now() - interval '1 minute'),
                           ('queued', 't', now() - interval '1 minute')
                    RETURNING id""")
        ).scalars()
    with runs_engine.connect() as holder:  # a live worker holds its run's lock
        holder.execute(text("SELECT pg_advisory_lock(:l, :id)"), {"l": RUN_LOCK, "id": alive})
        with transaction(runs_engine) as session:
            assert fail_abandoned(session) == 1
        holder.execute(text("SELECT pg_advisory_unlock(:l, :id)"), {"l": RUN_LOCK, "id": alive})
        holder.commit()
    with transaction(runs_engine) as session:
        status = dict(
            session.execute(
                text("SELECT id, status FROM coverage_runs WHERE id IN (:a, :b, :c)"),
                {"a": dead, "b": alive, "c": queued},
            ).all()
        )
        session.execute(text("DELETE FROM coverage_runs WHERE id = :c"), {"c": queued})  # no work for other tests
    assert status == {dead: "failed", alive: "running", queued: "queued"}
