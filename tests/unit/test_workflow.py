"""The incident handling loop: every transition allowed and refused, notes, deadlines (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gis.errors import Conflict, InvalidInput
from gis.incidents.workflow import STATES, TRANSITIONS, allowed_actions, deadline, is_overdue, next_state
from gis.registry import STAGES, incident_categories

ALLOWED = {(source, t.action): t.target for t in TRANSITIONS.values() for source in t.sources}


@pytest.mark.parametrize(("state", "action"), [(s, a) for s in STATES for a in TRANSITIONS])
def test_every_transition_is_allowed_or_refused(state: str, action: str) -> None:
    if (state, action) in ALLOWED:
        assert next_state(state, action, note="原因") == ALLOWED[(state, action)]
    else:
        with pytest.raises(Conflict, match=f"cannot {action}"):
            next_state(state, action, note="原因")


def test_the_closed_loop_runs_from_report_to_closure() -> None:
    state = "reported"
    for action in ("register", "dispatch", "start", "resolve", "verify", "close"):
        state = next_state(state, action)
    assert state == "closed" and allowed_actions(state) == []


def test_returned_goes_back_to_the_dispatcher_and_can_be_dispatched_again() -> None:
    assert next_state("in_progress", "return", note="不属于本部门") == "returned"
    assert next_state("returned", "dispatch") == "dispatched"


@pytest.mark.parametrize("action", ["reject", "return", "reopen"])
def test_reasons_are_required(action: str) -> None:
    source = next(iter(TRANSITIONS[action].sources))
    with pytest.raises(InvalidInput, match="needs a note"):
        next_state(source, action, note="  ")


def test_unknown_action_lists_the_actions() -> None:
    with pytest.raises(InvalidInput, match="register"):
        next_state("reported", "teleport")


def test_deadlines_follow_the_category_limits() -> None:
    limits = incident_categories()["emergency"].limits_hours
    entered = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert deadline("reported", entered, limits) == entered + timedelta(minutes=15)
    assert deadline("closed", entered, limits) is None
    assert is_overdue("dispatched", entered, limits, entered + timedelta(hours=3))
    assert not is_overdue("dispatched", entered, limits, entered + timedelta(hours=1))


def test_registry_routes_every_category_to_a_department_with_all_stage_limits() -> None:
    categories = incident_categories()
    assert {"dispute", "sanitation", "illegal_construction", "emergency"} <= set(categories)
    for category in categories.values():
        assert category.department and set(category.limits_hours) == set(STAGES)
        assert all(hours > 0 for hours in category.limits_hours.values())
