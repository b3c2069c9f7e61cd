"""Loading the demo district (data/demo.py generates it) into an empty database, through the importers; and, for
`gridmap demo`, its incident history (data/demo_incidents.py) with a grid worker for every grid."""

from __future__ import annotations

import json
from datetime import datetime

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.demo import generate_district
from data.demo_incidents import SURNAMES, DemoIncident, generate_incidents
from gis.coverage.runs import run_coverage
from gis.exchange.load import ImportReport, Progress, import_frame
from gis.incidents.workers import assign_worker
from gis.incidents.workflow import CLOSED_STATES, deadline, next_state
from gis.plans.store import current_plan_id
from gis.registry import incident_categories
from gis.settings import Settings

# Parents before children, so codes link as they arrive.
ORDER = ("districts", "streets", "communities", "buildings", "facilities", "network", "grids")


def database_is_empty(session: Session) -> bool:
    return not session.execute(
        text("SELECT EXISTS (SELECT 1 FROM communities) OR EXISTS (SELECT 1 FROM buildings)")
    ).scalar_one()


def load_demo(
    session: Session,
    settings: Settings,
    *,
    seed: int = 20261123,
    progress: Progress | None = None,
    incidents: bool = False,
) -> list[ImportReport]:
    """Import every layer of the demo district and compute its walking coverage; does nothing (returns [])
    when data is already present. `incidents`: also its incident history (`load_incident_history`)."""
    if not database_is_empty(session):
        return []
    district = generate_district(seed=seed)
    reports = [
        import_frame(
            session,
            layer,
            getattr(district, layer),
            settings=settings,
            source=f"demo {layer}",
            progress=progress,
            plan_name="现状网格（演示）",
        )
        for layer in ORDER
    ]
    run_coverage(session, settings, categories=None, actor="demo")
    if incidents:
        reports.append(load_incident_history(session, settings))
    return reports


DISPATCHER = "demo_dispatcher"
GIVEN_NAMES = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华"


def load_incident_history(session: Session, settings: Settings, *, now: datetime | None = None) -> ImportReport:
    """About 2,000 incidents of the last 90 days with every step of their handling, a dispatcher and a grid worker
    for every grid of the current plan (accounts without passwords: an admin gives them one).

    The incidents go through the incident importer (location, grid, areas and department as for any import); their
    steps are checked against the workflow (gis/incidents/workflow.py) and written as their history, and the
    state times, deadlines and closing times follow from the last step."""
    now = now or session.execute(text("SELECT now()")).scalar_one()
    plan = current_plan_id(session)
    grids = gpd.GeoDataFrame.from_postgis(
        text("SELECT code, households, geom FROM grids WHERE plan_id = :plan ORDER BY code"),
        session.connection(),
        geom_col="geom",
        params={"plan": plan},
    )
    categories = incident_categories()
    history = generate_incidents(grids, {code: c.limits_hours for code, c in categories.items()}, now)
    workers = _demo_staff(session, list(grids["code"]))
    finals = [_final_state(incident) for incident in history]
    frame = gpd.GeoDataFrame(
        {
            "source_id": [f"demo-incident-{n}" for n in range(len(history))],
            "category": [i.category for i in history],
            "description": [i.description for i in history],
            "status": finals,
            "channel": [i.channel for i in history],
            "reported_at": [i.reported_at for i in history],
            "reporter_contact": [i.reporter_contact for i in history],
        },
        geometry=shapely.points([(i.lon, i.lat) for i in history]),
        crs="EPSG:4326",
    )
    report = import_frame(session, "incidents", frame, settings=settings, source="demo incident history")
    rows = session.execute(text("SELECT source_id, id FROM incidents WHERE source_id LIKE 'demo-incident-%'")).all()
    ids: dict[str, int] = {source: incident_id for source, incident_id in rows}
    _write_history(session, history, finals, [ids[f"demo-incident-{n}"] for n in range(len(history))], workers)
    report.notes.append(
        f"{len(history)} incidents over the last 90 days with their handling; a grid worker for each of "
        f"{len(grids)} grids and the dispatcher {DISPATCHER}"
    )
    return report


def _demo_staff(session: Session, grid_codes: list[str]) -> dict[str, str]:
    """The dispatcher and one grid worker per grid (login by grid code); returns grid code → worker login."""
    if session.execute(text("SELECT 1 FROM users WHERE username = :u"), {"u": DISPATCHER}).first() is None:
        from gis.auth.users import create_user

        create_user(session, DISPATCHER, "dispatcher", actor="demo", display_name="指挥中心 调度员")
    rng = np.random.default_rng(20261207)
    workers = {}
    for code in grid_codes:
        login = f"gw_{code}"
        name = f"{rng.choice(list(SURNAMES))}{rng.choice(list(GIVEN_NAMES))}"
        assign_worker(session, login, code, display_name=f"网格员 {name}", actor="demo")
        workers[code] = login
    return workers


def _final_state(incident: DemoIncident) -> str:
    """Where the steps leave the incident; each step must be one the workflow allows (a Conflict otherwise)."""
    state = "reported"
    for step in incident.steps[1:]:
        state = next_state(state, step.action, step.note)
    return state


def _write_history(
    session: Session, history: list[DemoIncident], finals: list[str], ids: list[int], workers: dict[str, str]
) -> None:
    categories = incident_categories()
    events: dict[str, list] = {k: [] for k in ("id", "at", "actor", "action", "before", "after", "note", "details")}
    times: dict[str, list] = {k: [] for k in ("id", "entered", "due", "closed", "duplicate_of")}
    for incident, final, incident_id in zip(history, finals, ids, strict=True):
        state: str | None = None
        for step in incident.steps:
            after = "reported" if step.action == "report" else next_state(state or "reported", step.action, step.note)
            actor = {"dispatcher": DISPATCHER, "worker": workers[incident.grid_code]}.get(step.actor, step.actor)
            if step.action == "report" and incident.channel == "open311":
                actor = "open311"
            details: dict[str, object] | None = {"channel": incident.channel} if step.action == "report" else None
            if step.action == "mark_duplicate" and incident.duplicate_of is not None:
                details = {"duplicate_of": ids[incident.duplicate_of]}
            for key, value in zip(
                events, (incident_id, step.at, actor, step.action, state, after, step.note, details), strict=True
            ):
                events[key].append(json.dumps(value, ensure_ascii=False) if key == "details" and value else value)
            state = after
        last = incident.steps[-1].at
        times["id"].append(incident_id)
        times["entered"].append(last)
        times["due"].append(deadline(final, last, categories[incident.category].limits_hours))
        times["closed"].append(last if final in CLOSED_STATES else None)
        times["duplicate_of"].append(ids[incident.duplicate_of] if incident.duplicate_of is not None else None)
    session.execute(
        text("""INSERT INTO incident_events (incident_id, at, actor, action, from_status, to_status, note, details)
                SELECT * FROM unnest(CAST(:id AS bigint[]), CAST(:at AS timestamptz[]), CAST(:actor AS text[]),
                                     CAST(:action AS text[]), CAST(:before AS text[]), CAST(:after AS text[]),
                                     CAST(:note AS text[]), CAST(:details AS jsonb[]))"""),
        events,
    )
    session.execute(
        text("""UPDATE incidents i SET state_entered_at = t.entered, deadline_at = t.due, closed_at = t.closed,
                       duplicate_of = t.duplicate_of
                FROM unnest(CAST(:id AS bigint[]), CAST(:entered AS timestamptz[]), CAST(:due AS timestamptz[]),
                            CAST(:closed AS timestamptz[]), CAST(:duplicate_of AS bigint[]))
                     AS t(id, entered, due, closed, duplicate_of)
                WHERE i.id = t.id"""),
        times,
    )
