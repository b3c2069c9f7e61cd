"""Incident events pushed to other platforms — the 综治 platform, departments' own systems, the 12345 hotline — as
signed webhooks, delivered at least once.

Every incident event (report, transition, relocation) lands in `incident_events`; a trigger (migration 0015) writes
one outbox row per matching webhook in the same transaction, so an event that happened is never lost and one that
was rolled back is never sent. `deliver_due` posts due rows one by one: JSON body, `X-Gridmap-Signature:
sha256=<HMAC-SHA256 of the body with the webhook's secret>`, `X-Gridmap-Event` (the action) and
`X-Gridmap-Delivery` (the outbox id, the same on every retry so receivers can drop repeats). A 2xx marks the row
delivered; anything else is logged and retried with exponential backoff, for as long as it takes — a receiver that
is down loses nothing. `HookDeliverer` runs it in the server; `gridmap webhooks deliver` once from the shell.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import audit
from gis.errors import InvalidInput, NotFound
from gis.registry import incident_categories
from gis.settings import Settings

log = logging.getLogger("gridmap.hooks")
Sessions = Callable[[], Session]
FIELDS = "id, name, url, departments, categories, actions, active, created_by, created_at"
BATCH = 20


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _check(url: str, departments: Sequence[str] | None, categories: Sequence[str] | None) -> None:
    if not url.startswith(("http://", "https://")):
        raise InvalidInput("url must start with http:// or https://", where="url")
    known = incident_categories()
    unknown = [c for c in categories or () if c not in known]
    if unknown:
        raise InvalidInput(f"unknown categories {unknown}; categories are: {', '.join(known)}", where="categories")
    routed = {c.department for c in known.values()}
    strange = [d for d in departments or () if d not in routed]
    if strange:
        raise InvalidInput(
            f"no category is routed to {strange}; departments are: {', '.join(sorted(routed))}", where="departments"
        )


def create_webhook(
    session: Session,
    *,
    name: str,
    url: str,
    departments: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    actions: Sequence[str] | None = None,
    actor: str,
) -> dict[str, Any]:
    """A new webhook with a generated secret, returned once (like API tokens) for the receiver to verify with."""
    _check(url, departments, categories)
    secret = secrets.token_urlsafe(32)
    row = session.execute(
        text(f"""INSERT INTO webhooks (name, url, secret, departments, categories, actions, created_by)
                 VALUES (:name, :url, :secret, :departments, :categories, :actions, :actor) RETURNING {FIELDS}"""),
        {
            "name": name,
            "url": url,
            "secret": secret,
            "departments": list(departments) if departments else None,
            "categories": list(categories) if categories else None,
            "actions": list(actions) if actions else None,
            "actor": actor,
        },
    ).one()
    hook = dict(row._mapping)
    audit.record(
        session, actor=actor, action="webhook.create", target=f"webhook:{hook['id']}", after={"name": name, "url": url}
    )
    return hook | {"secret": secret}


def list_webhooks(session: Session) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in session.execute(text(f"SELECT {FIELDS} FROM webhooks ORDER BY id"))]


def get_webhook(session: Session, webhook_id: int) -> dict[str, Any]:
    row = session.execute(text(f"SELECT {FIELDS} FROM webhooks WHERE id = :id"), {"id": webhook_id}).first()
    if row is None:
        raise NotFound(f"webhook {webhook_id} does not exist", where="id")
    return dict(row._mapping)


def set_active(session: Session, webhook_id: int, active: bool, *, actor: str) -> dict[str, Any]:
    get_webhook(session, webhook_id)
    session.execute(text("UPDATE webhooks SET active = :a WHERE id = :id"), {"a": active, "id": webhook_id})
    audit.record(
        session, actor=actor, action="webhook.update", target=f"webhook:{webhook_id}", after={"active": active}
    )
    return get_webhook(session, webhook_id)


def delete_webhook(session: Session, webhook_id: int, *, actor: str) -> None:
    get_webhook(session, webhook_id)
    session.execute(text("DELETE FROM webhooks WHERE id = :id"), {"id": webhook_id})
    audit.record(session, actor=actor, action="webhook.delete", target=f"webhook:{webhook_id}")


def deliveries(session: Session, webhook_id: int, *, limit: int = 100) -> list[dict[str, Any]]:
    """The webhook's outbox rows, newest first, each with its attempts."""
    get_webhook(session, webhook_id)
    rows = session.execute(
        text("""SELECT o.id, o.event_id, o.incident_id, o.payload ->> 'action' AS action, o.created_at, o.attempts,
                       o.delivered_at, o.next_attempt_at, o.last_status, o.last_error,
                       coalesce((SELECT jsonb_agg(jsonb_build_object('at', d.at, 'status', d.status, 'error', d.error,
                                                                     'duration_ms', d.duration_ms) ORDER BY d.id)
                                 FROM webhook_deliveries d WHERE d.outbox_id = o.id), '[]') AS log
                FROM webhook_outbox o WHERE o.webhook_id = :id ORDER BY o.id DESC LIMIT :limit"""),
        {"id": webhook_id, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


def replay(session: Session, outbox_id: int, *, actor: str) -> None:
    """Send a delivery again (also a delivered one): due now, as if new."""
    done = session.execute(
        text("""UPDATE webhook_outbox SET delivered_at = NULL, next_attempt_at = now() WHERE id = :id
                RETURNING webhook_id"""),
        {"id": outbox_id},
    ).first()
    if done is None:
        raise NotFound(f"delivery {outbox_id} does not exist", where="id")
    audit.record(
        session,
        actor=actor,
        action="webhook.replay",
        target=f"webhook:{done.webhook_id}",
        after={"delivery": outbox_id},
    )


def deliver_due(session: Session, settings: Settings) -> int:
    """Post up to BATCH due deliveries (rows locked, others skip them); returns how many were attempted."""
    rows = session.execute(
        text("""SELECT o.id, o.payload, o.attempts, w.url, w.secret FROM webhook_outbox o
                JOIN webhooks w ON w.id = o.webhook_id
                WHERE o.delivered_at IS NULL AND o.next_attempt_at <= now() AND w.active
                ORDER BY o.next_attempt_at, o.id LIMIT :n FOR UPDATE OF o SKIP LOCKED"""),
        {"n": BATCH},
    ).all()
    for row in rows:
        body = json.dumps(row.payload, ensure_ascii=False, sort_keys=True).encode()
        status, error, elapsed = _post(row.url, body, row, settings.webhook_timeout_s)
        ok = status is not None and 200 <= status < 300
        backoff = min(settings.webhook_backoff_s * 2**row.attempts, settings.webhook_backoff_max_s)
        session.execute(
            text("""UPDATE webhook_outbox SET attempts = attempts + 1, last_status = :status, last_error = :error,
                           delivered_at = CASE WHEN :ok THEN now() END,
                           next_attempt_at = now() + make_interval(secs => :backoff)
                    WHERE id = :id"""),
            {"status": status, "error": error, "ok": ok, "backoff": backoff, "id": row.id},
        )
        session.execute(
            text("""INSERT INTO webhook_deliveries (outbox_id, status, error, duration_ms)
                    VALUES (:id, :status, :error, :ms)"""),
            {"id": row.id, "status": status, "error": error, "ms": elapsed},
        )
    return len(rows)


def _post(url: str, body: bytes, row: Any, timeout: float) -> tuple[int | None, str | None, int]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "gridmap-webhooks",
            "X-Gridmap-Event": str(row.payload.get("action")),
            "X-Gridmap-Delivery": str(row.id),
            "X-Gridmap-Signature": sign(row.secret, body),
        },
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, error = int(answer.status), None
    except urllib.error.HTTPError as exc:
        status, error = int(exc.code), str(exc.reason)[:500]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        status, error = None, str(getattr(exc, "reason", exc))[:500]
    return status, error, int((time.monotonic() - start) * 1000)


class HookDeliverer:
    """The server's webhook worker: a background thread delivering due rows every `settings.webhook_poll_s`
    seconds, each batch in its own transaction; several servers share the work (rows are locked, others skipped)."""

    def __init__(self, sessions: Sessions, settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="webhook-deliverer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                while not self._stopping.is_set():
                    with self._sessions() as session, session.begin():
                        if deliver_due(session, self._settings) < BATCH:
                            break
            except Exception:  # the database is away for a moment: look again at the next poll
                log.exception("delivering webhooks failed")
            self._stopping.wait(self._settings.webhook_poll_s)
