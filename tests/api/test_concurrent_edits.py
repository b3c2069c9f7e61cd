"""Two planners edit the same draft at the same version at the same moment, through a real server.

Exactly one edit wins; the other gets 412 and changes nothing; no update is lost (the operation log
and the version show one edit), and the loser's retry on the new version goes through. This needs
committed data and concurrent connections, so it runs on its own database behind a live server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gis.db.engine import transaction
from gis.settings import Settings
from tests import samples
from tests.browser import harness as browser
from tests.conftest import fresh_database

PLANNER = ("concurrent_admin", "a long enough password")


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    """A live app on a database with the sample communities, streets, buildings and grids (a published plan).

    Yields the base URL and the headers a signed-in admin sends (none before sign-in exists).
    """
    engine = fresh_database(settings, "test_concurrent")
    with transaction(engine) as session:
        samples.load_town(session, settings)
        _add_admin(session)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    for base in browser.serve(url):
        yield base, _sign_in(base)


def _add_admin(session: Any) -> None:
    try:
        from gis.auth import users
    except ImportError:  # before accounts exist every write is open
        return
    users.create_user(session, PLANNER[0], "admin", actor="system", password=PLANNER[1])


def _sign_in(base: str) -> dict[str, str]:
    answer = httpx.post(f"{base}/api/auth/token", data={"username": PLANNER[0], "password": PLANNER[1]})
    if answer.status_code == 404:
        return {}
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def edits_logged(client: httpx.Client, plan_id: int) -> list[str]:
    """The kinds of edit in the plan's operation log (its first entry records the draft's creation)."""
    return [op["kind"] for op in client.get(f"/api/plans/{plan_id}/operations").json() if op["kind"] != "create"]


def _race(base: str, headers: dict[str, str], requests: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send each (path, body) from its own thread and client, released together by a barrier."""
    barrier = threading.Barrier(len(requests))
    answers: list[httpx.Response | None] = [None] * len(requests)

    def run(i: int, path: str, body: dict[str, Any]) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            barrier.wait()
            answers[i] = client.post(path, json=body, headers={"If-Match": '"1"'})

    threads = [threading.Thread(target=run, args=(i, *r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(a is not None for a in answers), "a client did not get an answer"
    return [a for a in answers if a is not None]


def test_one_of_two_simultaneous_edits_wins_and_the_other_retries(server: tuple[str, dict[str, str]]) -> None:
    base, headers = server
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        created = client.post("/api/plans", json={"base": "current", "name": "两人同时编辑"})
        assert created.status_code == 201, created.text
        plan = created.json()
        assert plan["version"] == 1
        grids = client.get(f"/api/plans/{plan['id']}/grids").json()["features"]
        by_community: dict[str, list[int]] = {}
        for g in grids:
            by_community.setdefault(g["properties"]["community_code"], []).append(g["id"])
        pairs = [sorted(ids) for ids in by_community.values()]
        assert len(pairs) == 2 and all(len(p) == 2 for p in pairs)

        # Both planners saw version 1; each merges the two halves of a different community.
        edits = [(f"/api/plans/{plan['id']}/merge", {"grids": pair}) for pair in pairs]
        answers = _race(base, headers, edits)
        statuses = sorted(a.status_code for a in answers)
        assert statuses in ([200, 412], [200, 409]), [a.text for a in answers]
        winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
        loser = 1 - winner
        refused = answers[loser]
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert answers[winner].json()["plan"]["version"] == 2

        # Exactly one edit happened: one operation, version 2, the loser's grids untouched.
        assert edits_logged(client, plan["id"]) == ["merge"]
        assert client.get(f"/api/plans/{plan['id']}").json()["version"] == 2
        remaining = {g["id"] for g in client.get(f"/api/plans/{plan['id']}/grids").json()["features"]}
        assert set(pairs[loser]) <= remaining and not set(pairs[winner]) <= remaining

        # The loser reloads and retries on version 2: nothing is lost.
        path, body = edits[loser]
        retried = client.post(path, json=body, headers={"If-Match": '"2"'})
        assert retried.status_code == 200, retried.text
        assert retried.json()["plan"]["version"] == 3
        assert edits_logged(client, plan["id"]) == ["merge", "merge"]
        assert len(client.get(f"/api/plans/{plan['id']}/grids").json()["features"]) == 2


def test_the_same_edit_sent_twice_at_once_happens_once(server: tuple[str, dict[str, str]]) -> None:
    """A double click from two tabs: one merge, one 412, and the log holds a single operation."""
    base, headers = server
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        plan = client.post("/api/plans", json={"base": "current", "name": "双击"}).json()
        grids = sorted(g["id"] for g in client.get(f"/api/plans/{plan['id']}/grids").json()["features"])
        edit = (f"/api/plans/{plan['id']}/merge", {"grids": grids[:2]})
        answers = _race(base, headers, [edit, edit])
        assert sorted(a.status_code for a in answers) in ([200, 412], [200, 409]), [a.text for a in answers]
        assert edits_logged(client, plan["id"]) == ["merge"]
        assert client.get(f"/api/plans/{plan['id']}").json()["version"] == 2


def test_database_agrees(server: tuple[str, dict[str, str]], settings: Settings) -> None:
    """The log in the database, not only the API's view of it, holds one row per successful edit."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from gis.db.engine import database_url

    url = make_url(database_url(settings))
    engine = create_engine(url.set(database=f"{url.database}_test_concurrent"))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("""SELECT p.version, count(o.*) FROM grid_plans p
                        LEFT JOIN plan_operations o ON o.plan_id = p.id AND o.kind <> 'create'
                        WHERE p.status = 'draft' GROUP BY p.id, p.version ORDER BY p.id""")
            ).all()
    finally:
        engine.dispose()
    # Every draft: version = 1 + its operations (whatever order the tests above ran in).
    assert rows and all(version == 1 + count for version, count in rows)
