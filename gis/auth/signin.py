"""Signing in with a password, with a backoff per login name on top of the per-client limit (api/limits.py).

Guessing one account's password from many addresses passes any per-IP limit; so failures are also counted per
login name, in the database (every server process shares them): after `FAILURES_ALLOWED` failures within
`FORGET_AFTER`, that name is refused (429 with Retry-After) for `FIRST_WAIT`, doubling with each further failure
up to `LONGEST_WAIT`, whatever the password and wherever the attempt comes from. A success forgets the failures.

The count is kept by the sha256 of the name as typed, whether or not such an account exists, so an unknown name
behaves exactly like a known one (no user enumeration), and a password typed into the name field is not kept.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth.users import Principal, authenticate
from gis.errors import GridmapError, Unauthorized

FAILURES_ALLOWED = 5
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)  # failures older than this (counted from the last one) are forgotten


class SignInLocked(GridmapError):
    """Too many failed sign-ins for this login name: refused until `retry_after` seconds have passed."""

    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"username: too many failed sign-ins for this user name; retry in {retry_after} s", where="username"
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Refused:
    """A failed sign-in, to be answered (401) after the failure is stored: raising would roll it back."""

    error: Unauthorized


def wait_after(failures: int) -> timedelta:
    """How long a login name is refused after `failures` failures in a row (none below the allowance)."""
    if failures < FAILURES_ALLOWED:
        return timedelta(0)
    return min(LONGEST_WAIT, FIRST_WAIT * 2 ** min(failures - FAILURES_ALLOWED, 32))


def login_key(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def sign_in(session: Session, name: str, password: str, *, now: datetime | None = None) -> Principal | Refused:
    """The principal for a right name and password, or `Refused` after recording the failure.

    Raises SignInLocked while the name waits out its backoff (the password is not even checked then: guessing
    must not pay off, and the wait costs the server nothing). `Refused` is returned rather than raised so the
    caller can commit the failure it records."""
    now = now or datetime.now(UTC)
    key = login_key(name)
    locked_until = session.execute(
        text("SELECT locked_until FROM sign_in_failures WHERE login_key = :key AND locked_until > :now"),
        {"key": key, "now": now},
    ).scalar_one_or_none()
    if locked_until is not None:
        raise SignInLocked(max(1, math.ceil((locked_until - now).total_seconds())))
    try:
        principal = authenticate(session, name, password)
    except Unauthorized as refused:
        _record_failure(session, key, now)
        return Refused(refused)
    session.execute(text("DELETE FROM sign_in_failures WHERE login_key = :key"), {"key": key})
    return principal


def _record_failure(session: Session, key: str, now: datetime) -> None:
    # One statement, so concurrent failures for one name each count (the row lock orders them).
    failures = session.execute(
        text("""INSERT INTO sign_in_failures AS f (login_key, failures, last_failed_at) VALUES (:key, 1, :now)
                ON CONFLICT (login_key) DO UPDATE
                SET failures = CASE WHEN f.last_failed_at < :forget_before THEN 1 ELSE f.failures + 1 END,
                    last_failed_at = :now
                RETURNING failures"""),
        {"key": key, "now": now, "forget_before": now - FORGET_AFTER},
    ).scalar_one()
    wait = wait_after(failures)
    if wait:
        session.execute(
            text("UPDATE sign_in_failures SET locked_until = :until WHERE login_key = :key"),
            {"key": key, "until": now + wait},
        )
    # Names tried once and never again (a spray over many names) do not pile up.
    session.execute(
        text("DELETE FROM sign_in_failures WHERE last_failed_at < :forget_before"),
        {"forget_before": now - FORGET_AFTER},
    )
