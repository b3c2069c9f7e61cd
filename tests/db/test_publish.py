"""gis.plans.lifecycle.publish, the one way a plan becomes current: drafts (API, CLI) and imported grid layers.
The races against other writers are in tests/api/test_publish_race.py."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, NotFound, PreconditionFailed
from gis.plans.lifecycle import create_plan, operations, publish
from gis.plans.store import current_plan_id


def statuses(session: Session) -> dict[int, str]:
    return {plan: status for plan, status in session.execute(text("SELECT id, status FROM grid_plans"))}


def test_a_draft_is_published_at_its_version_and_retires_the_current_plan(demo_session: Session) -> None:
    current = current_plan_id(demo_session)
    assert current is not None
    draft = create_plan(demo_session, base="current", name="下一版", actor="test")

    with pytest.raises(PreconditionFailed, match="version 1, not 3"):
        publish(demo_session, draft["id"], version=3, actor="test")
    published = publish(demo_session, draft["id"], version=None, actor="test")  # None: whatever it is (the CLI)

    assert (published["status"], published["version"]) == ("published", 2)
    assert statuses(demo_session)[current] == "retired" and current_plan_id(demo_session) == draft["id"]
    assert [op["kind"] for op in operations(demo_session, draft["id"])] == ["create", "publish"]
    with pytest.raises(Conflict, match="only drafts"):
        publish(demo_session, draft["id"], version=2, actor="test")


def test_a_missing_plan_is_a_404(demo_session: Session) -> None:
    with pytest.raises(NotFound, match="plan 987654 does not exist"):
        publish(demo_session, 987654, version=1, actor="test")


def test_an_imported_layer_becomes_current_as_it_stands(demo_session: Session) -> None:
    """No validation and no version to check: the import reports the layer's faults; nothing is logged as an edit."""
    current = current_plan_id(demo_session)
    assert current is not None
    imported = demo_session.execute(
        text("INSERT INTO grid_plans (name, status) VALUES ('导入', 'draft') RETURNING id")
    ).scalar_one()

    plan = publish(demo_session, imported, version=None, actor="import", imported=True)

    assert (plan["status"], plan["version"], plan["effective_from"] is not None) == ("published", 1, True)
    assert statuses(demo_session)[current] == "retired" and current_plan_id(demo_session) == imported
    assert operations(demo_session, imported) == []
    again = publish(demo_session, imported, version=None, actor="import", imported=True)  # already current: kept
    assert again["effective_from"] == plan["effective_from"]
    with pytest.raises(Conflict, match="retired"):
        publish(demo_session, current, version=None, actor="import", imported=True)
