"""One building's new values — what an approved field visit (入户走访) observed — written by key and carried through
like any import (gis/basedata/keyed.py, gis/basedata/carry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.basedata.batches import Batch
from gis.basedata.carry import carry
from gis.basedata.keyed import Written, apply_rows, columns_of
from gis.errors import NotFound
from gis.settings import Settings


def set_building_values(
    session: Session, settings: Settings, batch: Batch, values: Mapping[int, Mapping[str, Any]]
) -> Written:
    """New values of known buildings (by id), e.g. the households a field visit observed, with their
    consequences; a retired building is NotFound."""
    codes: dict[int, str] = {
        r.id: r.code
        for r in session.execute(text("SELECT id, code FROM buildings WHERE id = ANY(:ids)"), {"ids": list(values)})
    }
    missing = [i for i in values if i not in codes]
    if missing:
        raise NotFound(f"building {missing[0]} is not a current building (retired or unknown)", where="building")
    present = {k for v in values.values() for k in v}
    records = [{"_row": n, "code": codes[i], **v} for n, (i, v) in enumerate(values.items(), start=1)]
    written = apply_rows(session, "buildings", columns_of(records), mode="update", present=present, geometry=False)
    carry(session, settings, batch, written)
    return written
