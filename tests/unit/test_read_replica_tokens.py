"""The read-your-writes position (api/replicas.py): only a WAL position as PostgreSQL prints it is taken; anything
else is no position at all (a read goes to the replica), never an error."""

from __future__ import annotations

import pytest

from api.replicas import COOKIE, _cookie
from gis.db.engine import parse_lsn


@pytest.mark.parametrize(
    ("sent", "taken"),
    [
        ("0/16B3748", "0/16B3748"),
        ("16/b374d848", "16/B374D848"),
        (" FFFFFFFF/FFFFFFFF ", "FFFFFFFF/FFFFFFFF"),
        (None, None),
        ("", None),
        ("0/", None),
        ("1/2/3", None),
        ("100000000/0", None),  # more than 32 bits in a half
        ("0/16B3748'; DROP TABLE users; --", None),
        ("０/16B3748", None),  # a full-width digit
    ],
)
def test_only_a_wal_position_is_taken(sent: str | None, taken: str | None) -> None:
    assert parse_lsn(sent) == taken


def test_the_cookie_is_for_the_whole_app_and_not_for_scripts() -> None:
    cookie = _cookie("0/16B3748", secure=True)
    assert cookie.startswith(f"{COOKIE}=0/16B3748;")
    assert {"Path=/", "HttpOnly", "SameSite=Lax", "Secure"} <= {part.strip() for part in cookie.split(";")}
    assert "Secure" not in _cookie("0/1", secure=False)
