"""Coverage goes stale when base data changes and is recomputed on its own: a data version per category, one
queued run per change (merged into the queued one), the versions a run started from, and workers (the server's
runner, the CLI's `work_queued_runs`) that claim queued runs one worker per run.

Tests on the rolled-back `client` see the queued run only in the test's own transaction, which the app's worker
cannot see: there the test works the run itself. Tests on the committed town database use the real workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from gis.coverage.runs import (
    CoverageRunner,
    claim_queued_run,
    data_versions,
    execute_run,
    get_run,
    run_coverage,
    work_queued_runs,
)
from gis.coverage.stale import mark_stale
from gis.coverage.stats import run_summary
from gis.db.engine import make_sessionmaker, transaction
from gis.errors import InvalidInput
from gis.registry import facility_registry
from gis.settings import Settings
from tests.accounts import headers_for
from tests.api.test_coverage import EPSG, X0, Y0, hand_built_town
from tests.conftest import fresh_database

PARK_5_MIN = {"category": "park", "minutes": 5}
TIMEOUT_S = 60


def town_with_coverage(session: Session, settings: Settings) -> None:
    hand_built_town(session, settings)
    run_coverage(session, settings, categories=None, actor="test")


def queued_runs(session: Session) -> list[tuple[int, list[str] | None]]:
    return [tuple(r) for r in session.execute(text("SELECT id, categories FROM coverage_runs WHERE status = 'queued'"))]


@pytest.fixture(scope="module")
def town_engine(settings: Settings) -> Iterator[Engine]:
    """The hand-built town with coverage of every category, committed: real workers see what tests commit."""
    engine = fresh_database(settings, "test_stale")
    with transaction(engine) as session:
        town_with_coverage(session, settings)
    yield engine
    engine.dispose()


def summary(engine: Engine) -> dict[str, Any]:
    with transaction(engine) as session:
        found = run_summary(session)
    assert found is not None
    return found


def finished(read: Any, run_id: int) -> dict[str, Any]:
    """The run once it is done or failed, read by `read(run_id)`; fails the test after TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    while (run := read(run_id))["status"] in {"queued", "running"}:
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {TIMEOUT_S} s: {run}"
        time.sleep(0.05)
    return run


def read_run(engine: Engine) -> Any:
    def read(run_id: int) -> dict[str, Any]:
        with transaction(engine) as session:
            return get_run(session, run_id)

    return read


# -- in the test's transaction ----------------------------------------------------------------------------------


def test_a_change_makes_coverage_stale_with_its_pending_run_until_that_run_is_done(
    session: Session, client: TestClient, settings: Settings
) -> None:
    town_with_coverage(session, settings)
    fresh = client.get("/api/coverage", params=PARK_5_MIN).json()["run"]
    assert (fresh["stale"], fresh["stale_categories"], fresh["pending"]) == (False, [], None)

    run_id = mark_stale(session, categories=["park"], reason="test: a park was moved", actor="planner-li")
    assert run_id is not None
    stale = client.get("/api/coverage", params=PARK_5_MIN).json()
    assert stale["run"]["id"] == fresh["id"]  # the figures still come from the old run ...
    assert stale["run"]["stale"] and stale["run"]["stale_categories"] == ["park"]  # ... and say so
    assert stale["run"]["pending"] == {"id": run_id, "status": "queued", "stage": None, "progress": 0.0}
    assert stale["rows"][0]["households_covered"] == 30
    queued = client.get(f"/api/coverage/runs/{run_id}").json()
    assert (queued["status"], queued["categories"], queued["actor"]) == ("queued", ["park"], "planner-li")
    reason = session.execute(
        text("SELECT actor, after FROM audit_log WHERE action = 'coverage.stale' ORDER BY id DESC LIMIT 1")
    ).one()
    assert reason == ("planner-li", {"categories": ["park"], "reason": "test: a park was moved"})

    done = execute_run(session, run_id, settings)  # what the background worker does once the change is committed
    assert done["report"]["data_versions"] == {"park": data_versions(session)["park"]}
    after = client.get("/api/coverage", params=PARK_5_MIN).json()["run"]
    assert (after["id"], after["stale"], after["stale_categories"], after["pending"]) == (run_id, False, [], None)
    ran = client.get(f"/api/coverage/runs/{run_id}").json()
    assert ran["report"]["data_versions"] == done["report"]["data_versions"]

    # Buildings changed: every category's figures count buildings, so every category is stale.
    everything = mark_stale(session, categories=None, reason="test: a building was demolished", actor="import")
    assert client.get(f"/api/coverage/runs/{everything}").json()["categories"] is None
    assert client.get("/api/coverage").json()["run"]["stale_categories"] == list(facility_registry().categories)


def test_changes_queue_one_run_covering_all_of_them(session: Session, settings: Settings) -> None:
    town_with_coverage(session, settings)
    before = data_versions(session)
    first = mark_stale(session, categories=["park"], reason="a", actor="t")
    assert mark_stale(session, categories=["bank", "park"], reason="b", actor="t") == first
    assert queued_runs(session) == [(first, ["bank", "park"])]  # registry order
    assert mark_stale(session, categories=None, reason="buildings", actor="t") == first
    assert mark_stale(session, categories=["kindergarten"], reason="c", actor="t") == first
    assert queued_runs(session) == [(first, None)]  # every category: nothing to add
    after = data_versions(session)
    assert after["park"] - before.get("park", 0) == 3 and after["kindergarten"] - before.get("kindergarten", 0) == 2
    assert mark_stale(session, categories=[], reason="nothing", actor="t") is None

    # A running run is not merged into: it may have read the data before this change.
    assert claim_queued_run(session) == first
    second = mark_stale(session, categories=["market"], reason="d", actor="t")
    assert second is not None and second != first
    # The new run also takes every category already stale (the ones the running run will not refresh).
    assert queued_runs(session) == [(second, list(facility_registry().categories))]
    with pytest.raises(InvalidInput, match="casino"):
        mark_stale(session, categories=["casino"], reason="e", actor="t")


def test_a_synchronous_run_is_also_the_run_of_the_queued_runs_it_covers(session: Session, settings: Settings) -> None:
    hand_built_town(session, settings)  # imports after the network was built queue runs themselves
    park = mark_stale(session, categories=["park"], reason="a park moved", actor="t")
    assert park is not None and queued_runs(session)
    done = run_coverage(session, settings, categories=None, actor="gridmap coverage")
    assert queued_runs(session) == []  # nothing left for a worker to redo
    absorbed = get_run(session, park)
    assert absorbed["status"] == "done" and absorbed["report"]["run_id"] == done["id"]
    fresh = run_summary(session)
    assert fresh is not None and (fresh["id"], fresh["stale"]) == (done["id"], False)

    only_park = run_coverage(session, settings, categories=["park"], actor="t")
    bank = mark_stale(session, categories=["bank"], reason="a bank opened", actor="t")
    run_coverage(session, settings, categories=["park"], actor="t")  # does not cover bank: it stays queued
    assert queued_runs(session) == [(bank, ["bank"])] and only_park["id"] < bank


def test_without_a_walking_network_versions_move_but_no_run_is_queued(session: Session) -> None:
    assert mark_stale(session, categories=["park"], reason="first import", actor="t") is None
    assert data_versions(session) == {"park": 1}
    assert session.execute(text("SELECT count(*) FROM coverage_runs")).scalar_one() == 0


# -- committed: the real workers ---------------------------------------------------------------------------------


def test_a_change_during_a_run_keeps_coverage_stale_and_queues_the_next_run(
    town_engine: Engine, settings: Settings
) -> None:
    with transaction(town_engine) as session:
        first = mark_stale(session, categories=["park"], reason="before the run", actor="t")
    meanwhile: list[int | None] = []

    def change_meanwhile(stage: str, _done: float) -> None:
        if stage.startswith("distances to") and not meanwhile:  # the run has read its data and its versions
            with transaction(town_engine) as other:
                meanwhile.append(mark_stale(other, categories=["park"], reason="during the run", actor="t"))

    assert work_queued_runs(town_engine, settings, progress=change_meanwhile) == [first]
    (second,) = meanwhile
    assert second is not None and second != first  # the running run was not merged into
    assert read_run(town_engine)(first)["status"] == "done"
    after_first = summary(town_engine)
    assert after_first["id"] == first and after_first["stale"] and after_first["stale_categories"] == ["park"]
    assert after_first["pending"] == {"id": second, "status": "queued", "stage": None, "progress": 0.0}

    # The CLI works what is queued (here with a sessionmaker): now the figures are fresh.
    assert work_queued_runs(make_sessionmaker(town_engine), settings) == [second]
    fresh = summary(town_engine)
    assert (fresh["id"], fresh["stale"], fresh["pending"]) == (second, False, None)
    assert work_queued_runs(town_engine, settings) == []


def test_the_servers_runner_works_a_run_queued_by_another_process(town_engine: Engine, settings: Settings) -> None:
    runner = CoverageRunner(make_sessionmaker(town_engine), settings.model_copy(update={"coverage_poll_s": 0.2}))
    runner.start()
    try:
        with transaction(town_engine) as session:  # e.g. `gridmap import` in another process; nothing wakes it
            run_id = mark_stale(session, categories=["bank"], reason="CLI import", actor="cli")
        assert run_id is not None
        run = finished(read_run(town_engine), run_id)
    finally:
        runner.shutdown()
    assert run["status"] == "done" and run["report"]["categories"] == ["bank"], run
    fresh = summary(town_engine)
    assert (fresh["id"], fresh["stale"], fresh["pending"]) == (run_id, False, None)


def test_a_queued_run_is_claimed_by_one_worker_and_not_while_a_change_holds_it(
    town_engine: Engine, settings: Settings
) -> None:
    sessions = make_sessionmaker(town_engine)
    with transaction(town_engine) as session:
        run_id = mark_stale(session, categories=["market"], reason="a", actor="t")
    with sessions() as worker:
        assert claim_queued_run(worker) == run_id
        with sessions() as rival:  # another server process, polling at the same moment
            assert claim_queued_run(rival) is None
        worker.rollback()  # this worker dies before committing its claim: the run is queued again

    with sessions() as change:  # a change adding a category to the queued run, not yet committed
        assert mark_stale(change, categories=["post_office"], reason="b", actor="t") == run_id
        with sessions() as rival:
            assert claim_queued_run(rival) is None  # working it now would miss the change
        change.commit()
    assert work_queued_runs(town_engine, settings) == [run_id]
    assert read_run(town_engine)(run_id)["report"]["categories"] == ["market", "post_office"]
    assert not summary(town_engine)["stale"]


def test_a_facility_added_through_the_api_is_covered_once_the_background_run_is_done(
    town_engine: Engine, settings: Settings
) -> None:
    bank_5_min = {"category": "bank", "minutes": 5}
    lon, lat = Transformer.from_crs(EPSG, 4326, always_xy=True).transform(X0 + 700, Y0 - 5)  # 25 m from home A
    app = create_app(settings.model_copy(update={"coverage_poll_s": 0.2}), engine=town_engine)
    with TestClient(app) as client:
        with transaction(town_engine) as session:
            client.headers.update(headers_for(session, app.state.signing_key, "planner", "planner-li"))
        before = client.get("/api/coverage", params=bank_5_min).json()
        assert before["rows"][0]["households_covered"] == 0 and not before["run"]["stale"]
        added = client.post("/api/facilities", json={"category": "bank", "name": "街角银行", "lon": lon, "lat": lat})
        assert added.status_code == 201, added.text
        assert added.json()["recomputed_categories"] == ["bank"]
        href = added.json()["coverage_run"]
        run = finished(lambda _: client.get(href).json(), 0)
        assert run["status"] == "done" and run["report"]["categories"] == ["bank"], run
        after = client.get("/api/coverage", params=bank_5_min).json()
        assert (after["run"]["id"], after["run"]["stale"]) == (run["id"], False)
        assert after["rows"][0]["households_covered"] == 10  # home A; B is 465 m away on foot
