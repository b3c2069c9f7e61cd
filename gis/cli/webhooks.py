"""`gridmap webhooks list | deliver`: the incident webhooks, and delivering what is due from the shell."""

from __future__ import annotations

from typing import Annotated

import typer

from gis.cli.common import console, failing_clearly, migrated_session, settings

app = typer.Typer(help="webhooks: incident events pushed to other platforms", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """Webhooks with what they send and how many deliveries wait."""
    from sqlalchemy import text

    from gis.incidents.hooks import list_webhooks

    with failing_clearly(), migrated_session() as session:
        rows = session.execute(
            text("SELECT webhook_id, count(*) FROM webhook_outbox WHERE delivered_at IS NULL GROUP BY 1")
        ).all()
        waiting: dict[int, int] = {hook_id: count for hook_id, count in rows}
        for hook in list_webhooks(session):
            scope = ", ".join(
                f"{key}={'/'.join(hook[key])}" for key in ("departments", "categories", "actions") if hook[key]
            )
            state = "active" if hook["active"] else "paused"
            console.print(
                f"{hook['id']}: {hook['name']} → {hook['url']} ({state}; {scope or 'every event'}; "
                f"{waiting.get(hook['id'], 0)} waiting)"
            )


@app.command("deliver")
def deliver_command(
    rounds: Annotated[int, typer.Option(help="batches to send at most (a server delivers on its own)")] = 50,
) -> None:
    """Send due deliveries now, batch by batch, each in its own transaction (for use without a running server)."""
    from gis.incidents.hooks import BATCH, deliver_due

    sent = 0
    with failing_clearly():
        for _ in range(rounds):
            with migrated_session() as session:
                done = deliver_due(session, settings())
            sent += done
            if done < BATCH:
                break
    console.print(f"{sent} deliveries attempted")
