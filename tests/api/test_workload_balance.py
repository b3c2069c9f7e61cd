"""Grids balanced by the load of managing them (按管理难度): households, incidents and patrol length, band kept."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.exchange.demo import load_incident_history
from gis.settings import Settings
from tests.api.test_plans import draft, grids, post


def test_balance_by_workload_evens_loads_and_keeps_the_band(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    load_incident_history(demo_session, settings)
    community = demo_session.execute(
        text("""SELECT c.code FROM communities c JOIN units u ON u.community_id = c.id
                GROUP BY c.code ORDER BY sum(u.households) DESC LIMIT 1""")
    ).scalar_one()
    plan = draft(demo_client)
    body = {
        "community": community,
        "min_households": 300,
        "max_households": 500,
        "weights": {"households": 1, "incidents": 2, "patrol_m": 1},
        "months": 3,
    }
    response = post(demo_client, plan, "balance", body)

    assert response.status_code == 200, response.text
    outcome = response.json()["balance"]
    assert outcome["satisfied"], outcome["problems"]
    workload = outcome["workload"]
    assert workload["evened"] and workload["weights"] == {"households": 1, "incidents": 2, "patrol_m": 1}
    assert workload["spread_after"] <= workload["spread_before"]
    reported = workload["grids"]
    assert len(reported) == len(outcome["households"]) and sum(g["incidents"] for g in reported) > 0
    assert all(g["patrol_m"] > 0 for g in reported)
    # The band holds on the stored plan, and the plan is whole and contiguous.
    loads = [g["households"] for g in grids(demo_client, plan["id"]).values() if g["community_code"] == community]
    assert sorted(loads) == sorted(g["households"] for g in reported) and all(300 <= h <= 500 for h in loads)
    validation = demo_client.get(f"/api/plans/{plan['id']}/validation").json()
    assert not [e for e in validation["errors"] if e["type"] in ("non_contiguous", "unassigned_units")]
    logged = demo_client.get(f"/api/plans/{plan['id']}/operations").json()[-1]
    assert logged["payload"]["weights"] == {"households": 1.0, "incidents": 2.0, "patrol_m": 1.0}


def test_balance_weights_are_checked(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    for weights in ({"floors": 1}, {"households": -1}, {"households": 0, "incidents": 0}):
        response = post(demo_client, plan, "balance", {"community": "x", "weights": weights})
        assert response.status_code == 422, (weights, response.text)
        assert "weights" in response.text
