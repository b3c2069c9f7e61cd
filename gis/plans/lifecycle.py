"""Grid plans: versions of the grid layout, like MapIt's generations — drafts, the operation log, publishing.

Exactly one plan is published (current). A draft is a copy of a base plan edited in place (gis.plans.edits.handle):
every edit locks the draft's row, is checked against its version (optimistic concurrency) and is appended to the
operation log with its inverse, so undo restores the previous state exactly. `publish` is the one way a plan becomes
current — for a draft (API and CLI) and for an imported grid layer (gis/plans/adopt.py) — retiring the published
plan in the same transaction.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis import audit
from gis.errors import Conflict, InvalidInput, PreconditionFailed
from gis.plans.assignment import Change, apply_change, copy_assignments
from gis.plans.community_types import band_for_plan
from gis.plans.store import current_plan_id, no_such_plan, plan_row
from gis.plans.validation import validate_plan
from gis.registry import ascii_digits
from gis.settings import get_settings

Band = tuple[int, int]

# Advisory lock held by the transaction that is making a plan current: one publish (or grid import) at a time.
PUBLISH_LOCK = 774_210_601

PLAN_COLUMNS = """p.id, p.name, p.status, p.version, p.base_plan_id, p.min_households, p.max_households,
    p.code_layout, p.created_at, p.effective_from, p.effective_to,
    (SELECT count(*) FROM grids g WHERE g.plan_id = p.id) AS grids,
    (SELECT COALESCE(sum(households), 0) FROM grids g WHERE g.plan_id = p.id) AS households"""


def _plan_dict(row: Any) -> dict[str, Any]:
    plan = dict(row._mapping)
    for key, value in plan.items():
        if isinstance(value, datetime):
            plan[key] = value.isoformat()
    return plan


def list_plans(session: Session) -> list[dict[str, Any]]:
    return [_plan_dict(r) for r in session.execute(text(f"SELECT {PLAN_COLUMNS} FROM grid_plans p ORDER BY p.id"))]


def get_plan(session: Session, plan_id: int) -> dict[str, Any]:
    """The plan's full record with its totals (grids, households), else 404 naming `plan`."""
    row = session.execute(text(f"SELECT {PLAN_COLUMNS} FROM grid_plans p WHERE p.id = :id"), {"id": plan_id}).first()
    if row is None:
        raise no_such_plan(plan_id)
    return _plan_dict(row)


def resolve_base(session: Session, base: int | str) -> int:
    if base == "current":
        current = current_plan_id(session)
        if current is None:
            raise Conflict("there is no published plan yet: import a grid layer first", where="base")
        return current
    if isinstance(base, str) and not ascii_digits(base):
        raise InvalidInput(f'base must be a plan id or "current", not {base!r}', where="base")
    plan_id = int(base)
    plan_row(session, plan_id)
    return plan_id


def create_plan(
    session: Session, *, base: int | str, name: str, actor: str, band: Band | None = None
) -> dict[str, Any]:
    """A new draft copied from `base` (a plan id or "current"), version 1, with the base's household band — or
    `band` (default: the configured one of the base's main community type) when the base has none, so every plan
    has a band."""
    source = resolve_base(session, base)
    low, high = band or _default_band(session, source)
    plan_id = session.execute(
        text("""INSERT INTO grid_plans (name, status, version, base_plan_id, min_households, max_households,
                                        code_layout)
                SELECT :name, 'draft', 1, id, COALESCE(min_households, :low), COALESCE(max_households, :high),
                       code_layout
                FROM grid_plans WHERE id = :base RETURNING id"""),
        {"name": name, "base": source, "low": low, "high": high},
    ).scalar_one()
    copy_assignments(session, source, plan_id)
    log_operation(session, plan_id, "create", actor, {"base": source, "name": name}, Change(), version=1)
    return get_plan(session, plan_id)


def ensure_band(session: Session, plan_id: int, band: Band | None = None) -> None:
    """Give a plan without a household band `band` (default: the configured one of its main community type, see
    gis/plans/community_types.py): imported grid layers and the demo land without one, and a plan without a band
    would report no grid as too large or too small."""
    low, high = band or _default_band(session, plan_id)
    session.execute(
        text("""UPDATE grid_plans SET min_households = COALESCE(min_households, :low),
                                      max_households = COALESCE(max_households, :high)
                WHERE id = :plan AND (min_households IS NULL OR max_households IS NULL)"""),
        {"plan": plan_id, "low": low, "high": high},
    )


def _default_band(session: Session, plan_id: int) -> Band:
    """The configured band for the plan's main community type (gis/plans/community_types.py)."""
    settings = get_settings()
    return band_for_plan(session, plan_id, settings.household_band, settings.household_band_by_type)


def set_band(session: Session, plan_id: int, *, low: int, high: int, version: int | None, actor: str) -> dict[str, Any]:
    """Change a draft's household band: an operation of its log like any edit (undo restores the old band)."""
    if low < 0 or high < low:
        raise InvalidInput("the household band needs 0 ≤ min_households ≤ max_households", where="band")
    row = lock_draft(session, plan_id, version)
    if (row.min_households, row.max_households) == (low, high):
        raise InvalidInput(f"plan {plan_id} already has the household band {low}–{high}", where="band")
    inverse = apply_change(session, plan_id, Change(band=(low, high)))
    payload = {"min_households": low, "max_households": high}
    log_operation(session, plan_id, "band", actor, payload, inverse, version=row.version + 1)
    return get_plan(session, plan_id)


# -- editing (the edits themselves: gis.plans.edits.handle) ---------------------------------------------------


def lock_draft(session: Session, plan_id: int, version: int | None) -> Row[Any]:
    """Lock the plan's row for this transaction; refuse anything but a draft at `version` (None: whatever
    version it has once locked — scripted work that owns the draft)."""
    row = plan_row(session, plan_id, for_update=True)
    if row.status != "draft":
        raise Conflict(
            f"plan {plan_id} is {row.status}: only drafts can be edited; create a draft from it", where="plan"
        )
    if version is not None and row.version != version:
        raise PreconditionFailed(
            f"plan {plan_id} is at version {row.version}, not {version}: someone else changed it; "
            "reload and apply your edit again",
            where="If-Match",
        )
    return row


def log_operation(
    session: Session, plan_id: int, kind: str, actor: str, payload: dict[str, Any], inverse: Change, *, version: int
) -> int:
    """Append one operation (its payload and inverse) to the plan's log and the audit trail; the plan is at
    `version` afterwards. Returns the operation's sequence number."""
    session.execute(text("UPDATE grid_plans SET version = :v WHERE id = :plan"), {"v": version, "plan": plan_id})
    audit.record(
        session,
        actor=actor,
        action=f"plan.{kind}",
        target=f"plan:{plan_id}",
        before={"version": version - 1} if version > 1 else None,
        after={"version": version, **payload},  # the edit's parameters and its result (grids made/changed)
    )
    return session.execute(
        text("""INSERT INTO plan_operations (plan_id, seq, kind, actor, payload, inverse, version_after)
                SELECT :plan, COALESCE(max(seq), 0) + 1, :kind, :actor, CAST(:payload AS jsonb),
                       CAST(:inverse AS jsonb), :version
                FROM plan_operations WHERE plan_id = :plan RETURNING seq"""),
        {
            "plan": plan_id,
            "kind": kind,
            "actor": actor,
            "payload": _json(payload),
            "inverse": _json(inverse.to_json()),
            "version": version,
        },
    ).scalar_one()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def operations(session: Session, plan_id: int) -> list[dict[str, Any]]:
    plan_row(session, plan_id)
    rows = session.execute(
        text("""SELECT seq, kind, actor, at, payload, version_after, undone FROM plan_operations
                WHERE plan_id = :plan ORDER BY seq"""),
        {"plan": plan_id},
    )
    return [_plan_dict(r) for r in rows]


def plan_grids(session: Session, plan_id: int) -> list[dict[str, Any]]:
    """The plan's grids by code: id, code, name, community code, households and buildings (no geometry)."""
    plan_row(session, plan_id)
    rows = session.execute(
        text("""SELECT g.id, g.code, g.name, c.code AS community_code, g.households, g.buildings
                FROM grids g LEFT JOIN communities c ON c.id = g.community_id
                WHERE g.plan_id = :plan ORDER BY g.code, g.id"""),
        {"plan": plan_id},
    )
    return [dict(r._mapping) for r in rows]


# -- publishing ----------------------------------------------------------------------------------------------


def publish(
    session: Session, plan_id: int, *, version: int | None, actor: str, imported: bool = False
) -> dict[str, Any]:
    """Make the plan the current one, retiring the published plan, in this transaction. Returns its record.

    A draft (`imported=False`) is locked first (its row, as edits lock it) and its version checked; then it is
    validated as it stands under that lock — an edit that committed while this publish waited included — and
    only a plan without errors becomes current. Publishing takes turns (an advisory lock): a publish that waited
    while another one made a different plan current is refused with 409 instead of silently replacing it.

    `imported=True`: a grid layer adopted as a whole (gis/plans/adopt.py) becomes current as it stands — the import
    reports its faults as drawn, and it has no draft version to check — after any publish under way.
    """
    replacing = current_plan_id(session)  # the plan this publish set out to replace
    if imported:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
        if plan_row(session, plan_id, for_update=True).status == "retired":
            raise Conflict(f"plan {plan_id} is retired: create a draft from it to publish it again", where="plan")
        _make_current(session, plan_id)
        return get_plan(session, plan_id)
    row = lock_draft(session, plan_id, version)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
    current = current_plan_id(session)
    if current != replacing:
        raise Conflict(
            f"plan {current} was published while plan {plan_id} waited to be published: "
            "reload the plans, compare the draft with the new current plan and publish again",
            where="publish",
        )
    errors = validate_plan(session, plan_id).errors
    if errors:
        kinds = sorted({e["type"] for e in errors})
        # The first finding is named in full (e.g. the grid above the band) so the refusal says what to fix.
        raise Conflict(
            f"plan {plan_id} has {len(errors)} validation errors ({', '.join(kinds)}): fix them first; "
            f"first: {errors[0]['message']}",
            where="validation",
        )
    _make_current(session, plan_id)
    log_operation(session, plan_id, "publish", actor, {}, Change(), version=row.version + 1)
    return get_plan(session, plan_id)


def _make_current(session: Session, plan_id: int) -> None:
    """Retire the published plan and publish this one (its effective_from kept when it already is current)."""
    try:
        with session.begin_nested():
            session.execute(
                text("""UPDATE grid_plans SET status = 'retired', effective_to = now()
                        WHERE status = 'published' AND id <> :plan"""),
                {"plan": plan_id},
            )
            session.execute(
                text("""UPDATE grid_plans SET status = 'published',
                               effective_from = CASE WHEN status = 'published' THEN effective_from ELSE now() END
                        WHERE id = :plan"""),
                {"plan": plan_id},
            )
    except IntegrityError as exc:
        # Only a writer that bypasses `publish` (and its lock) can get here: still a 409, never a 500.
        if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) != "one_published_plan":
            raise
        raise Conflict(
            f"another plan was published at the same moment as plan {plan_id}: reload the plans and try again",
            where="publish",
        ) from None
