"""The last active admin cannot demote or disable itself (or be demoted): 409 naming the field, also under a race."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis.auth.users import change_user, create_user
from gis.db.engine import transaction
from gis.errors import Conflict
from gis.settings import Settings
from tests.conftest import GridmapClient, fresh_database

GRIDMAP = str(Path(sys.executable).parent / "gridmap")


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


@pytest.mark.parametrize(("body", "where"), [({"role": "planner"}, "role"), ({"active": False}, "active")])
def test_the_last_admin_cannot_demote_or_disable_itself(
    client: GridmapClient, session: Session, body: dict[str, Any], where: str
) -> None:
    # The signed-in `test-admin` is the only active admin of the test database.
    session.execute(text("UPDATE users SET active = false WHERE role = 'admin' AND username <> 'test-admin'"))

    refused = problem(client.patch("/api/users/test-admin", json=body), 409)

    assert refused["where"] == where and "admin" in refused["detail"]
    me = client.get("/api/users/test-admin").json()
    assert me["role"] == "admin" and me["active"] is True


def test_another_active_admin_lets_one_step_down_and_others_change_freely(client: GridmapClient) -> None:
    assert client.post("/api/users", json={"name": "zhao", "role": "admin"}).status_code == 201
    assert client.patch("/api/users/test-admin", json={"display_name": "管理员"}).status_code == 200  # not a demotion
    assert client.patch("/api/users/test-admin", json={"role": "admin", "active": True}).status_code == 200

    assert client.patch("/api/users/zhao", json={"active": False}).status_code == 200
    problem(client.patch("/api/users/test-admin", json={"role": "viewer"}), 409)  # zhao is disabled now
    assert client.patch("/api/users/zhao", json={"active": True}).status_code == 200
    assert client.patch("/api/users/test-admin", json={"role": "viewer"}).json()["role"] == "viewer"


@pytest.fixture(scope="module")
def race_engine(settings: Settings) -> Iterator[Engine]:
    """A database of its own: the race needs committed rows seen by two connections."""
    engine = fresh_database(settings, "test_last_admin")
    yield engine
    engine.dispose()


def test_two_concurrent_demotions_of_the_last_two_admins_cannot_both_pass(race_engine: Engine) -> None:
    with transaction(race_engine) as session:
        session.execute(text("UPDATE users SET active = false WHERE role = 'admin'"))
        for name in ("qian", "sun"):
            create_user(session, name, "admin", actor="test")
    both_locked = threading.Barrier(2, timeout=30)
    outcomes: dict[str, str] = {}

    def demote(name: str) -> None:
        try:
            with transaction(race_engine) as session:
                # Both transactions start before either commits: without the lock both would count two admins.
                session.execute(text("SELECT 1"))
                both_locked.wait()
                change_user(session, name, actor=name, role="viewer")
            outcomes[name] = "changed"
        except Conflict as refused:
            outcomes[name] = f"refused:{refused.where}"

    threads = [threading.Thread(target=demote, args=(name,)) for name in ("qian", "sun")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes.values()) == ["changed", "refused:role"]
    with race_engine.connect() as connection:
        admins = connection.execute(text("SELECT count(*) FROM users WHERE role = 'admin' AND active")).scalar_one()
    assert admins == 1


def test_gridmap_user_set_refuses_to_disable_the_last_admin(race_engine: Engine) -> None:
    with transaction(race_engine) as session:
        session.execute(text("UPDATE users SET active = false WHERE role = 'admin'"))
        create_user(session, "zhou", "admin", actor="test")
    environment = os.environ | {"GRIDMAP_DATABASE_URL": race_engine.url.render_as_string(hide_password=False)}

    done = subprocess.run(
        [GRIDMAP, "user", "set", "zhou", "--disabled"], capture_output=True, text=True, env=environment, check=False
    )

    assert done.returncode == 2 and "last active admin" in done.stderr and "Traceback" not in done.stderr
    with race_engine.connect() as connection:
        assert connection.execute(text("SELECT active FROM users WHERE username = 'zhou'")).scalar_one() is True
