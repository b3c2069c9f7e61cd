"""Webhooks to other platforms (admins): incident events signed and delivered at least once, with a delivery log
and replay (gis/incidents/hooks.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ADMIN_ONLY, ActorDep, SessionDep
from api.schemas.webhooks import Delivery, Webhook, WebhookChange, WebhookCreate, WebhookCreated
from gis.incidents import hooks

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"], dependencies=[ADMIN_ONLY])


@router.get("", summary="webhooks (secrets are never shown again)")
def list_webhooks(session: SessionDep) -> list[Webhook]:
    return [Webhook.model_validate(h) for h in hooks.list_webhooks(session)]


@router.post("", status_code=201, summary="a new webhook; its secret is in this answer only")
def create_webhook(body: WebhookCreate, session: SessionDep, actor: ActorDep) -> WebhookCreated:
    hook = hooks.create_webhook(
        session,
        name=body.name,
        url=body.url,
        departments=body.departments,
        categories=body.categories,
        actions=body.actions,
        actor=actor,
    )
    return WebhookCreated.model_validate(hook)


@router.patch("/{webhook_id}", summary="pause or resume a webhook (paused: events wait in the outbox)")
def change_webhook(webhook_id: int, body: WebhookChange, session: SessionDep, actor: ActorDep) -> Webhook:
    return Webhook.model_validate(hooks.set_active(session, webhook_id, body.active, actor=actor))


@router.delete("/{webhook_id}", status_code=204, summary="remove a webhook and its outbox")
def delete_webhook(webhook_id: int, session: SessionDep, actor: ActorDep) -> Response:
    hooks.delete_webhook(session, webhook_id, actor=actor)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", summary="the delivery log, newest first, with every attempt")
def deliveries(
    webhook_id: int, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[Delivery]:
    return [Delivery.of(d) for d in hooks.deliveries(session, webhook_id, limit=limit)]


@router.post("/deliveries/{delivery_id}/replay", status_code=202, summary="send a delivery again, now")
def replay(delivery_id: int, session: SessionDep, actor: ActorDep) -> dict[str, int]:
    hooks.replay(session, delivery_id, actor=actor)
    return {"delivery": delivery_id}
