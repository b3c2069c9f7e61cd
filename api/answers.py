"""How a write that takes an Idempotency-Key answers: 201 with its Location when it made the record, 200 with
`Idempotent-Replayed: true` (and the same Location) when the key had made it already."""

from __future__ import annotations

from fastapi import Response


def created_or_replayed(response: Response, location: str, *, created: bool) -> None:
    response.headers["Location"] = location
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
