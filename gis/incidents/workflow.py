"""The closed handling loop of an incident (数字城管: 立案 → 派遣 → 处置 → 反馈 → 核查 → 结案) as a state machine.

Only the transitions listed here are allowed; each names the stage whose time limit starts when the
incident enters its target state (see data/incident_categories.toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gis.errors import Conflict, InvalidInput

STATES = (
    "reported",
    "registered",
    "dispatched",
    "in_progress",
    "resolved",
    "verified",
    "closed",
    "rejected",
    "returned",
    "duplicate",
)
CLOSED_STATES = frozenset({"closed", "rejected", "duplicate"})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    needs_note: bool = False  # a reason is required (rejecting, returning, failing a check)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("register", frozenset({"reported"}), "registered"),  # 立案
        Transition("reject", frozenset({"reported"}), "rejected", needs_note=True),  # 不予立案
        Transition("mark_duplicate", frozenset({"reported", "registered"}), "duplicate"),
        Transition("dispatch", frozenset({"registered", "returned"}), "dispatched"),  # 派遣
        Transition("start", frozenset({"dispatched"}), "in_progress"),  # 处置
        Transition("return", frozenset({"dispatched", "in_progress"}), "returned", needs_note=True),  # 退回
        Transition("resolve", frozenset({"in_progress"}), "resolved"),  # 反馈
        Transition("verify", frozenset({"resolved"}), "verified"),  # 核查通过
        Transition("reopen", frozenset({"resolved"}), "in_progress", needs_note=True),  # 核查不通过
        Transition("close", frozenset({"verified"}), "closed"),  # 结案
    )
}

# The stage whose clock runs while an incident is in a state (None: no deadline).
STAGE_OF_STATE = {
    "reported": "register",
    "registered": "dispatch",
    "returned": "dispatch",
    "dispatched": "handle",
    "in_progress": "handle",
    "resolved": "verify",
    "verified": "close",
}


def next_state(current: str, action: str, note: str | None = None) -> str:
    """The state after `action`, or Conflict (409) when the action is not allowed from `current`."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise InvalidInput(f"unknown action {action!r}; actions are: {', '.join(TRANSITIONS)}", where="action")
    if current not in transition.sources:
        allowed = ", ".join(allowed_actions(current)) or "none (the incident is finished)"
        raise Conflict(f"cannot {action} an incident that is {current}; allowed now: {allowed}", where="action")
    if transition.needs_note and not (note and note.strip()):
        raise InvalidInput(f"{action} needs a note giving the reason", where="note")
    return transition.target


def allowed_actions(current: str) -> list[str]:
    return [t.action for t in TRANSITIONS.values() if current in t.sources]


def deadline(state: str, entered_at: datetime, limits_hours: dict[str, float]) -> datetime | None:
    """When the current stage's time runs out, counted from entering `state`."""
    stage = STAGE_OF_STATE.get(state)
    if stage is None:
        return None
    return entered_at + timedelta(hours=limits_hours[stage])


def is_overdue(state: str, entered_at: datetime, limits_hours: dict[str, float], now: datetime) -> bool:
    due = deadline(state, entered_at, limits_hours)
    return due is not None and now > due
