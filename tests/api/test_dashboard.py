"""The leaders' dashboard (GET /api/dashboard, /maps/dashboard): who may read it, and its figures against SQL on a
history seeded in the test's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.incidents.dashboard import histogram
from tests.api.test_evaluation import closed_incident
from tests.api.test_incidents import file_report
from tests.conftest import GridmapClient


def seed(client: GridmapClient, session: Session) -> list[int]:
    """Five incidents: three closed after 10, 30 and 50 hours (two rated 5 and 2), two open, one of them overdue."""
    ids = [closed_incident(client, session, n=n)["id"] for n in range(3)]
    ids += [file_report(client, session, n=n).json()["id"] for n in (3, 4)]
    for id_, hours in zip(ids[:3], (10, 30, 50), strict=True):
        session.execute(
            text("""UPDATE incidents SET reported_at = now() - interval '20 days',
                    closed_at = now() - interval '20 days' + make_interval(hours => :h) WHERE id = :id"""),
            {"id": id_, "h": hours},
        )
    session.execute(text("UPDATE incidents SET rating = 5 WHERE id = :id"), {"id": ids[0]})
    session.execute(text("UPDATE incidents SET rating = 2 WHERE id = :id"), {"id": ids[1]})
    session.execute(text("UPDATE incidents SET deadline_at = now() - interval '1 day' WHERE id = :id"), {"id": ids[4]})
    return ids


def test_figures_match_the_history(demo_session: Session, demo_client: GridmapClient) -> None:
    ids = seed(demo_client, demo_session)
    answer = demo_client.get("/api/dashboard", headers=demo_client.as_role("leader"))
    assert answer.status_code == 200, answer.text
    body = answer.json()

    # Counts by status: every week of the window is there; this week holds the two open reports.
    weeks = body["status_by_week"]
    assert len(weeks) >= 90 // 7 and weeks == sorted(weeks, key=lambda w: w["week"])
    assert sum(sum(w["by_status"].values()) for w in weeks) == 5
    assert weeks[-1]["by_status"] == {"reported": 2}
    [closed_week] = [w for w in weeks if w["by_status"].get("closed")]
    assert closed_week["by_status"] == {"closed": 3}

    # Median handling time: the week the three closed in (all within 50 hours of one report day).
    handled = [w for w in body["handling_by_week"] if w["closed"]]
    assert sum(w["closed"] for w in handled) == 3
    if len(handled) == 1:
        assert handled[0]["median_hours"] == 30.0
    assert all(w["median_hours"] is None for w in body["handling_by_week"] if not w["closed"])

    # Overdue by community and department: as SQL counts them; every community is listed.
    sql = demo_session.execute(
        text("""SELECT c.code, count(*) AS total, count(*) FILTER (WHERE i.deadline_at < now()) AS overdue
                FROM incidents i JOIN communities c ON c.id = i.community_id GROUP BY 1""")
    ).all()
    by_code = {r["code"]: r for r in body["overdue_by_community"]}
    communities = demo_session.execute(text("SELECT count(*) FROM communities")).scalar_one()
    assert len(by_code) == communities
    for row in sql:
        assert by_code[row.code]["total"] == row.total and by_code[row.code]["overdue"] == row.overdue
        assert by_code[row.code]["overdue_rate"] == round(row.overdue / row.total, 4)
    departments = {r["code"]: r for r in body["overdue_by_department"]}
    assert sum(r["overdue"] for r in departments.values()) == 1
    assert sum(r["total"] for r in departments.values()) == 5

    # Evaluation scores.
    ratings = body["ratings"]
    assert ratings["evaluated"] == 2 and ratings["mean"] == 3.5
    assert {d["rating"]: d["incidents"] for d in ratings["distribution"]} == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}

    # Grid load of the published plan against its band.
    plan = demo_session.execute(
        text("SELECT id, min_households, max_households FROM grid_plans WHERE status = 'published'")
    ).one()
    households = demo_session.execute(
        text("SELECT households FROM grids WHERE plan_id = :p"), {"p": plan.id}
    ).scalars().all()  # fmt: skip
    load = body["grid_load"]
    assert load["plan_id"] == plan.id and load["grids"] == len(households)
    assert (load["band_min"], load["band_max"]) == (plan.min_households, plan.max_households)
    assert sum(b["grids"] for b in load["bins"]) == len(households)
    low, high = plan.min_households, plan.max_households
    assert load["outside_band"] == sum(
        1 for h in households if (low is not None and h < low) or (high is not None and h > high)
    )

    # Incident density: each incident in the grid it was located in.
    density = {g["id"]: g["incidents"] for g in body["density"]["grids"]}
    assert body["density"]["plan_id"] == plan.id and sum(density.values()) == 5
    located = demo_session.execute(
        text("SELECT grid_id, count(*) FROM incidents WHERE id = ANY(:ids) GROUP BY 1"), {"ids": ids}
    ).all()
    for grid_id, n in located:
        assert density[grid_id] == n

    # Coverage by tier per community, the tier-complete rows of the coverage statistics.
    coverage = body["coverage"]
    assert coverage["level"] == "community" and coverage["rows"]
    assert {r["category"] for r in coverage["rows"]} == {"tier_complete"}
    assert coverage == demo_client.get(
        "/api/coverage", params={"level": "community", "category": "tier_complete"}
    ).json() | {"rows": coverage["rows"]}


@pytest.mark.parametrize("role", ["admin", "leader", "viewer"])
def test_leaders_viewers_and_admins_read_it(demo_client: GridmapClient, role: str) -> None:
    assert demo_client.get("/api/dashboard", headers=demo_client.as_role(role)).status_code == 200


@pytest.mark.parametrize("role", ["planner", "dispatcher", "grid_worker"])
def test_other_roles_are_refused(demo_client: GridmapClient, role: str) -> None:
    answer = demo_client.get("/api/dashboard", headers=demo_client.as_role(role) | {"Accept-Language": "zh"})
    assert answer.status_code == 403
    assert "领导驾驶舱" in answer.json()["detail"] and "领导" in answer.json()["detail"]


def test_the_public_must_sign_in(demo_client: GridmapClient) -> None:
    assert demo_client.anonymous.get("/api/dashboard").status_code == 401


def test_a_leader_account_can_be_made(demo_client: GridmapClient) -> None:
    made = demo_client.post("/api/users", json={"name": "zhang-leader", "role": "leader", "password": "long-enough-1"})
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "leader"


def test_the_page_is_served_in_both_languages(demo_client: GridmapClient) -> None:
    page = demo_client.anonymous.get("/maps/dashboard")
    assert page.status_code == 200 and "领导驾驶舱" in page.text
    assert "/static/vendor/echarts/echarts.min.js" in page.text and "https://" not in page.text.split("<body")[0]
    assert "Leaders' dashboard" in demo_client.anonymous.get("/maps/dashboard", params={"lang": "en"}).text
    assert demo_client.anonymous.get("/static/vendor/echarts/echarts.min.js").status_code == 200


def test_histogram_bins_cover_the_values_and_the_band() -> None:
    bins = histogram([120, 180, 250, 400], [150, 300], bins=6)
    assert sum(b["grids"] for b in bins) == 4
    assert bins[0]["start"] <= 120 and bins[-1]["end"] > 400
    assert all(b["end"] - b["start"] == 50 for b in bins)
    assert histogram([], [100]) == []
    assert histogram([7, 7], []) == [{"start": 7, "end": 8, "grids": 2}]
