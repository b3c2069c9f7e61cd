"""`gridmap batches list | show ID | undo ID`: the changes made to base data, and taking one back."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gis.cli.common import actor, console, failing_clearly, migrated_engine, migrated_session, settings

app = typer.Typer(help="batches: every import, approved visit, undo and edit of base data", no_args_is_help=True)


@app.command("list")
def list_command(
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 30,
    layer: Annotated[str | None, typer.Option(help="only batches of this layer")] = None,
) -> None:
    """List recent batches with their counts."""
    from rich.table import Table

    from gis.basedata.batches import list_batches

    with failing_clearly(), migrated_session() as session:
        found = list_batches(session, limit=limit, layer=layer)
        table = Table(title_justify="left")
        for column in ("id", "at", "kind", "layer", "mode", "source", "actor", "counts", "undone by"):
            table.add_column(column)
        for b in found:
            report = b.report or {}
            counts = " ".join(
                f"{k[0]}{report[k]}" for k in ("inserted", "updated", "unchanged", "retired") if k in report
            )
            table.add_row(
                str(b.id),
                b.at.strftime("%Y-%m-%d %H:%M:%S"),
                b.kind,
                b.layer,
                b.mode or "",
                b.source or "",
                b.actor,
                counts,
                str(b.undone_by or ""),
            )
    console.print(table)


@app.command("show")
def show_command(batch_id: Annotated[int, typer.Argument(help="batch id")]) -> None:
    """Show one batch and its whole report as JSON."""
    from gis.basedata.batches import get_batch

    with failing_clearly(), migrated_session() as session:
        b = get_batch(session, batch_id)
        record = {
            "id": b.id,
            "kind": b.kind,
            "layer": b.layer,
            "mode": b.mode,
            "scope": b.scope,
            "source": b.source,
            "actor": b.actor,
            "at": b.at.isoformat(),
            "undo_of": b.undo_of,
            "undone_by": b.undone_by,
            "report": b.report,
        }
    console.print_json(json.dumps(record, ensure_ascii=False, default=str))


@app.command("undo")
def undo_command(
    batch_id: Annotated[int, typer.Argument(help="batch id")],
    recompute: Annotated[bool, typer.Option(help="recompute stale coverage afterwards")] = True,
) -> None:
    """Revert a whole batch, when nothing has changed its rows since (else it names the rows in the way)."""
    from gis.basedata.undo import undo_batch
    from gis.db.engine import transaction

    with failing_clearly():
        engine = migrated_engine()
        with transaction(engine) as session:
            undone = undo_batch(session, settings(), batch_id, actor=actor())
        counts = ", ".join(f"{k} {v}" for k, v in undone.written.counts().items() if k != "unchanged")
        console.print(f"batch {batch_id} undone by batch {undone.undo_batch_id}: {counts}")
        for note in undone.carried.notes:
            console.print(f"  note: {note}", highlight=False)
        if recompute and undone.carried.coverage_run is not None:
            from gis.coverage.runs import work_queued_runs

            worked = work_queued_runs(engine, settings())
            console.print(f"coverage recomputed: runs {', '.join(map(str, worked)) or 'none'}")
