"""Publishing against concurrent writers, through a real server on committed data (DESIGN.md §4).

A draft is validated under its row lock in the publishing transaction, so a publish racing an edit can never make a
plan with validation errors current; two drafts published at the same moment give one success and one 409, never a
500; a writer that bypasses publishing's turn still meets a 409. Each race is made deterministic by holding the lock
the racers meet and releasing it only once they are seen waiting for it (pg_locks / pg_stat_activity).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gis.db.engine import transaction
from gis.plans.commands import Merge
from gis.plans.edits import handle
from gis.plans.lifecycle import PUBLISH_LOCK
from gis.settings import Settings
from tests import samples
from tests.browser import harness as browser
from tests.conftest import fresh_database

PLANNER = ("publish_admin", "a long enough password")


@pytest.fixture(scope="module")
def live(settings: Settings) -> Iterator[tuple[str, dict[str, str], Engine]]:
    """A live app on a database with the sample communities, buildings and grids (the published plan).

    Yields the base URL, an admin's headers and an engine on the same database (for the test's own connections)."""
    engine = fresh_database(settings, "test_publish_race")
    with transaction(engine) as session:
        samples.load_town(session, settings)
        from gis.auth import users

        users.create_user(session, PLANNER[0], "admin", actor="system", password=PLANNER[1])
    url = engine.url.render_as_string(hide_password=False)
    for base in browser.serve(url):
        answer = httpx.post(f"{base}/api/auth/token", data={"username": PLANNER[0], "password": PLANNER[1]})
        assert answer.status_code == 200, answer.text
        yield base, {"Authorization": f"Bearer {answer.json()['access_token']}"}, engine
    engine.dispose()


def in_thread(send: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    """Start `send` in its own thread; the list receives its answer."""
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(send()))
    thread.start()
    return thread, answers


def wait_until(engine: Engine, sql: str, expected: int, params: dict[str, Any] | None = None) -> None:
    """Poll `sql` (a count) until it reaches `expected`: the racers are parked where the test wants them."""
    deadline = time.monotonic() + 30
    with engine.connect() as connection:
        while connection.execute(text(sql), params or {}).scalar_one() < expected:
            assert time.monotonic() < deadline, f"nobody ended up waiting: {sql}"
            time.sleep(0.02)
            connection.rollback()  # a fresh snapshot for the next look


WAITING_FOR_A_ROW = """SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"""
WAITING_TO_PUBLISH = """SELECT count(*) FROM pg_locks
                        WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = :key AND objsubid = 1"""


def published(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalars())


def new_draft(client: httpx.Client, name: str) -> dict[str, Any]:
    created = client.post("/api/plans", json={"base": "current", "name": name})
    assert created.status_code == 201, created.text
    return created.json()


def publish(base: str, headers: dict[str, str], plan_id: int, version: int) -> Callable[[], httpx.Response]:
    def send() -> httpx.Response:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            return client.post(f"/api/plans/{plan_id}/publish", headers={"If-Match": f'"{version}"'})

    return send


def test_a_publish_racing_an_edit_never_makes_an_invalid_plan_current(
    live: tuple[str, dict[str, str], Engine],
) -> None:
    base, headers, engine = live
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        current = published(engine)
        plan = new_draft(client, "发布与编辑赛跑")
        features = client.get(f"/api/plans/{plan['id']}/grids").json()["features"]
        halves = sorted(f["id"] for f in features if f["properties"]["community_code"] == "330203008001")
        with engine.begin() as connection:  # a band the two halves keep apart (480 and 300) but not merged (780)
            connection.execute(
                text("UPDATE grid_plans SET min_households = 0, max_households = 500 WHERE id = :p"), {"p": plan["id"]}
            )
        assert client.get(f"/api/plans/{plan['id']}/validation").json()["valid"]

        # A planner's merge is under way (the draft's row locked, not yet committed) when a publish arrives that
        # already names the version the merge will make.
        with Session(engine) as editor, editor.begin():
            handle(editor, plan["id"], Merge(tuple(halves)), version=1, actor="editor")
            thread, answers = in_thread(publish(base, headers, plan["id"], 2))
            wait_until(engine, WAITING_FOR_A_ROW, 1)
        thread.join(timeout=60)

        refused = answers[0]
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "households_above" in refused.json()["detail"]
        assert published(engine) == current  # the invalid draft never became current
        after = client.get(f"/api/plans/{plan['id']}").json()
        assert (after["status"], after["version"]) == ("draft", 2)


def test_two_drafts_published_at_the_same_moment_one_wins_one_conflicts(
    live: tuple[str, dict[str, str], Engine],
) -> None:
    base, headers, engine = live
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        previous = published(engine)
        drafts = [new_draft(client, "同时发布甲"), new_draft(client, "同时发布乙")]

        # Both publishes set out while the turn to publish is taken, and are released together.
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PUBLISH_LOCK})
            racers = [in_thread(publish(base, headers, d["id"], d["version"])) for d in drafts]
            wait_until(engine, WAITING_TO_PUBLISH, 2, {"key": PUBLISH_LOCK})
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PUBLISH_LOCK})
            holder.commit()
        for thread, _ in racers:
            thread.join(timeout=60)

        answers = [answers[0] for _, answers in racers]
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        winner = next(d for d, a in zip(drafts, answers, strict=True) if a.status_code == 200)
        loser, refused = next((d, a) for d, a in zip(drafts, answers, strict=True) if a.status_code == 409)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert f"plan {winner['id']} was published" in refused.json()["detail"]
        assert published(engine) == [winner["id"]]
        statuses = {p["id"]: p["status"] for p in client.get("/api/plans").json()}
        assert statuses[previous[0]] == "retired" and statuses[loser["id"]] == "draft"
        assert client.get(f"/api/plans/{loser['id']}").json()["version"] == 1  # refused: nothing changed

        # Reloaded, the planner may still replace the new current plan on purpose: one at a time, both go through.
        again = client.post(f"/api/plans/{loser['id']}/publish", headers={"If-Match": '"1"'})
        assert again.status_code == 200, again.text
        assert published(engine) == [loser["id"]]


def test_a_writer_that_bypasses_publishing_still_meets_a_conflict(live: tuple[str, dict[str, str], Engine]) -> None:
    """Whoever makes a plan current without taking the turn (as an old import did) makes the publish a 409,
    not a unique-violation 500."""
    base, headers, engine = live
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        draft = new_draft(client, "绕过发布")
        with Session(engine) as rogue, rogue.begin():
            rogue.execute(
                text("UPDATE grid_plans SET status = 'retired', effective_to = now() WHERE status = 'published'")
            )
            rogue_id = rogue.execute(
                text("""INSERT INTO grid_plans (name, status, effective_from)
                        VALUES ('旁路', 'published', now()) RETURNING id""")
            ).scalar_one()
            thread, answers = in_thread(publish(base, headers, draft["id"], 1))
            wait_until(engine, WAITING_FOR_A_ROW, 1)
        thread.join(timeout=60)
        refused = answers[0]
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert published(engine) == [rogue_id]
        assert client.get(f"/api/plans/{draft['id']}").json()["status"] == "draft"
