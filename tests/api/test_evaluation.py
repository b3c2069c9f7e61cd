"""The loop's last step (评价): a closed incident rated 1–5 by its reporter through the tracking number, or by a
dispatcher; once; counted in the statistics; the comment stays with staff."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.test_incidents import file_report


def closed_incident(client: TestClient, session: Session, n: int = 0) -> dict:
    made = file_report(client, session, n=n).json()
    for action in ("register", "dispatch", "start", "resolve", "verify", "close"):
        assert client.post(f"/api/incidents/{made['id']}/transitions", json={"action": action}).status_code == 200
    return made


def test_the_reporter_rates_once_through_the_tracking_number(demo_session: Session, demo_client: TestClient) -> None:
    made = closed_incident(demo_client, demo_session)
    public = demo_client.anonymous
    url = f"/api/track/{made['tracking_number']}/evaluation"

    assert public.post(url, json={"rating": 6}).status_code == 422
    answer = public.post(url, json={"rating": 5, "comment": "处理很快，谢谢 13900002222"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rating"] == 5 and "comment" not in answer.json()
    assert public.post(url, json={"rating": 1}).status_code == 409  # once
    dispatcher = demo_client.as_role("dispatcher")
    again = demo_client.post(
        f"/api/incidents/{made['id']}/transitions", json={"action": "evaluate", "rating": 2}, headers=dispatcher
    )
    assert again.status_code == 409  # the reporter's rating stands

    status = public.get(f"/api/track/{made['tracking_number']}").text
    assert "13900002222" not in status  # the comment is not public
    detail = demo_client.get(f"/api/incidents/{made['id']}").json()
    assert detail["history"][-1]["action"] == "evaluate" and detail["status"] == "closed"
    stats = demo_client.get("/api/incidents/stats", params={"level": "all"}).json()[0]
    assert stats["evaluated"] == 1 and stats["mean_rating"] == 5.0


def test_dispatchers_rate_closed_incidents_only_and_workers_do_not(
    demo_session: Session, demo_client: TestClient
) -> None:
    made = file_report(demo_client, demo_session).json()
    url = f"/api/incidents/{made['id']}/transitions"
    dispatcher = demo_client.as_role("dispatcher")
    assert demo_client.post(url, json={"action": "evaluate", "rating": 4}, headers=dispatcher).status_code == 409
    done = closed_incident(demo_client, demo_session, n=5)
    url = f"/api/incidents/{done['id']}/transitions"
    assert demo_client.post(url, json={"action": "evaluate"}, headers=dispatcher).status_code == 422  # no rating
    rated = demo_client.post(url, json={"action": "evaluate", "rating": 3, "note": "按时办结"}, headers=dispatcher)
    assert rated.status_code == 200, rated.text
    corrected = demo_client.post(url, json={"action": "evaluate", "rating": 4}, headers=dispatcher)
    assert corrected.status_code == 200  # a dispatcher may correct a dispatcher's rating
    worker = demo_client.as_role("grid_worker")
    assert demo_client.post(url, json={"action": "evaluate", "rating": 1}, headers=worker).status_code == 403
    stats = demo_client.get("/api/incidents/stats", params={"level": "all"}).json()[0]
    assert stats["evaluated"] == 1 and stats["mean_rating"] == 4.0
