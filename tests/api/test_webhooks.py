"""Incident webhooks: written to the outbox with the event, signed, retried until a real receiver takes them,
logged, replayable — and a receiver that is down loses nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.incidents import hooks
from gis.settings import Settings
from tests.api.test_incidents import file_report
from tests.browser.harness import free_port


class Receiver:
    """A real HTTP receiver on loopback that answers 500 to its first `fail` requests, then 200."""

    def __init__(self, port: int, fail: int = 0) -> None:
        self.port, self.fail, self.received = port, fail, []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = 500 if receiver.fail > 0 else 200
                receiver.fail -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/gridmap/events"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port(), fail=2)
    server.start()
    yield server
    server.stop()


def deliver_all(session: Session, settings: Settings, rounds: int = 10) -> None:
    quick = settings.model_copy(update={"webhook_backoff_s": 0.0, "webhook_timeout_s": 5.0})
    for _ in range(rounds):
        hooks.deliver_due(session, quick)


def test_events_are_signed_retried_logged_and_replayed(
    demo_session: Session, demo_client: TestClient, settings: Settings, receiver: Receiver
) -> None:
    made = demo_client.post(
        "/api/webhooks", json={"name": "综治平台", "url": receiver.url, "categories": ["sanitation"]}
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    secret = hook.pop("secret")
    assert demo_client.get("/api/webhooks").json() == [hook]  # the secret is never shown again

    incident = file_report(demo_client, demo_session, reporter_contact="13800001111").json()
    assert (
        demo_client.post(f"/api/incidents/{incident['id']}/transitions", json={"action": "register"}).status_code == 200
    )
    file_report(demo_client, demo_session, n=3, category="dispute")  # not this webhook's category

    deliver_all(demo_session, settings)

    delivered = [(headers, json.loads(body)) for headers, body in receiver.received]
    assert len(delivered) == 4  # two failed attempts, then the report and the registration
    for (headers, payload), (_, raw) in zip(delivered, receiver.received, strict=True):
        assert headers["X-Gridmap-Signature"] == "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        assert payload["incident_id"] == incident["id"] and payload["category"] == "sanitation"
        assert "13800001111" not in raw.decode() and "description" not in payload  # no personal data
    ids = {h["X-Gridmap-Delivery"] for h, _ in delivered}
    assert {p["action"] for _, p in delivered} == {"report", "register"} and len(ids) == 2

    log = demo_client.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert len(log) == 2 and all(d["delivered_at"] for d in log)
    statuses = sorted(attempt["status"] for d in log for attempt in d["log"])
    assert statuses == [200, 200, 500, 500]

    again = demo_client.post(f"/api/webhooks/deliveries/{log[0]['id']}/replay")
    assert again.status_code == 202
    deliver_all(demo_session, settings)
    assert receiver.received[-1][0]["X-Gridmap-Delivery"] == str(log[0]["id"])  # the same delivery id


def test_a_receiver_that_is_down_loses_nothing(
    demo_session: Session, demo_client: TestClient, settings: Settings, receiver: Receiver
) -> None:
    receiver.fail = 0
    hook = demo_client.post("/api/webhooks", json={"name": "12345", "url": receiver.url, "actions": ["report"]}).json()
    receiver.stop()
    incident = file_report(demo_client, demo_session).json()

    deliver_all(demo_session, settings, rounds=3)
    pending = demo_client.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert len(pending) == 1 and pending[0]["delivered_at"] is None and pending[0]["attempts"] == 3
    assert pending[0]["last_status"] is None and pending[0]["last_error"]

    receiver.start()
    deliver_all(demo_session, settings)
    done = demo_client.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert done[0]["delivered_at"] and [json.loads(b)["incident_id"] for _, b in receiver.received] == [incident["id"]]


def test_webhooks_are_for_admins_and_checked(demo_client: TestClient) -> None:
    assert demo_client.anonymous.get("/api/webhooks").status_code == 401
    assert demo_client.get("/api/webhooks", headers=demo_client.as_role("dispatcher")).status_code == 403
    for body, where in (
        ({"name": "x", "url": "ftp://example.org/x"}, "url"),
        ({"name": "x", "url": "https://example.org/x", "categories": ["ufo"]}, "categories"),
        ({"name": "x", "url": "https://example.org/x", "departments": ["外星办"]}, "departments"),
    ):
        answer = demo_client.post("/api/webhooks", json=body)
        assert answer.status_code == 422 and answer.json()["where"] == where
