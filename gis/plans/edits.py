"""The planner's edits: `handle` carries out a command of gis.plans.commands on a draft, the same for HTTP
and the CLI, and each command is computed here as a gis.plans.assignment.Change from the plan's current state.

All of them move units between grids: merge (adjacent grids into one), split (by a line; units go to the
side their representative point lies on), redraw (the units a polygon contains join a grid), reassign
(the units of chosen buildings join a grid), balance (repartition a community into grids within a
household band) and renumber (standard codes); undo applies the inverse of the newest edit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, assert_never

import geopandas as gpd
import networkx as nx
import numpy as np
import psycopg
import shapely
from shapely.ops import split as split_polygon
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gis.errors import Conflict, GridmapError, InvalidInput, NotFound
from gis.geo import dataset
from gis.geo.crs import STORAGE_CRS
from gis.geo.frames import metric_frame
from gis.plans.assignment import Change, GridSpec, apply_change, new_grid_ids, units_of_grids
from gis.plans.balance import BalanceResult, balance_units
from gis.plans.codes import number_grids, renumber_map
from gis.plans.commands import Balance, Command, Merge, Reassign, Redo, Redraw, Renumber, Split, Undo
from gis.plans.lifecycle import lock_draft, log_operation
from gis.plans.store import plan_row
from gis.plans.workload import check_weights, even_out_load, unit_loads
from gis.registry import ascii_digits, code_layout

Details = dict[str, Any]


@dataclass
class EditResult:
    """What an edit did: the plan's new version, the operation's number, the grids made, changed and removed,
    and what the edit found (e.g. renumbering's old → new code map)."""

    plan_id: int
    version: int
    operation: int
    kind: str
    created: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": {"id": self.plan_id, "version": self.version},
            "operation": self.operation,
            "kind": self.kind,
            "grids": {"created": self.created, "changed": self.changed, "removed": self.removed},
            **self.details,
        }


class EditTimedOut(GridmapError):
    """A plan edit ran past its statement time and was cancelled; its transaction is rolled back."""

    status = 503
    title = "Edit timed out"


def handle(
    session: Session,
    plan_id: int,
    command: Command,
    *,
    version: int | None,
    actor: str,
    timeout_s: float | None = None,
) -> EditResult:
    """Carry out one edit of a draft: lock its row and check `version` (None: whatever it is once locked), compute
    the command's change, apply it and log it with its inverse and the command's payload. The one way to edit.

    With `timeout_s` (the API's GRIDMAP_PLAN_EDIT_TIMEOUT_S) every statement of the edit, waiting for the draft's
    lock included, is cancelled past that time: EditTimedOut, nothing changed. The CLI edits without a limit."""
    with _statement_timeout(session, timeout_s, command.kind):
        return _handle(session, plan_id, command, version=version, actor=actor)


@contextmanager
def _statement_timeout(session: Session, seconds: float | None, kind: str) -> Iterator[None]:
    """PostgreSQL's statement_timeout for the statements inside, as SET LOCAL does (a savepoint rolled back undoes
    it too), restored afterwards so the rest of the transaction runs as before."""
    if seconds is None:
        yield
        return
    before = session.execute(text("SELECT current_setting('statement_timeout')")).scalar_one()
    session.execute(text("SELECT set_config('statement_timeout', :limit, true)"), {"limit": f"{seconds * 1000:.0f}"})
    try:
        yield
    except OperationalError as exc:
        if isinstance(exc.orig, psycopg.errors.QueryCanceled):
            raise EditTimedOut(
                f"the {kind} edit took longer than {seconds:g} s (GRIDMAP_PLAN_EDIT_TIMEOUT_S) and was cancelled; "
                "nothing was changed. Retry later, make a smaller edit, or run it with `gridmap plan`",
                where=kind,
            ) from None
        raise
    session.execute(text("SELECT set_config('statement_timeout', :before, true)"), {"before": before})


def _handle(session: Session, plan_id: int, command: Command, *, version: int | None, actor: str) -> EditResult:
    if isinstance(command, Undo):
        return _undo(session, plan_id, version=version, actor=actor)
    if isinstance(command, Redo):
        return _redo(session, plan_id, version=version, actor=actor)
    locked = lock_draft(session, plan_id, version)
    change, details = _compute(session, plan_id, command)
    if change.is_empty():
        raise InvalidInput(f"{command.kind} changes nothing", where=command.kind)
    inverse = apply_change(session, plan_id, change)
    after = locked.version + 1
    # The outcome (e.g. renumbering's old → new code map) is kept with the request in the log.
    payload = {**command.payload(), "result": details}
    seq = log_operation(session, plan_id, command.kind, actor, payload, inverse, version=after)
    return _result(plan_id, after, seq, command.kind, change, details)


def _compute(
    session: Session, plan_id: int, command: Merge | Split | Redraw | Reassign | Balance | Renumber
) -> tuple[Change, Details]:
    match command:
        case Merge(grids=grids):
            return merge(session, plan_id, list(grids))
        case Split(grid=grid, line=line):
            return split(session, plan_id, grid, line)
        case Redraw(grid=grid, polygon=polygon):
            return redraw(session, plan_id, grid, polygon)
        case Reassign(grid=grid, buildings=buildings):
            return reassign(session, plan_id, grid, list(buildings))
        case Balance():
            return balance(
                session,
                plan_id,
                community=command.community,
                grid_ids=list(command.grids) if command.grids is not None else None,
                min_households=command.min_households,
                max_households=command.max_households,
                seed=command.seed,
                weights=dict(command.weights) if command.weights else None,
                months=command.months,
                token=command.token,
            )
        case Renumber(layout=layout):
            return renumber(session, plan_id, layout)
        case _:
            assert_never(command)


def _undo(session: Session, plan_id: int, *, version: int | None, actor: str) -> EditResult:
    """Apply the inverse of the newest edit not yet undone; the undo itself is logged (append-only)."""
    locked = lock_draft(session, plan_id, version)
    last = session.execute(
        text("""SELECT seq, kind, inverse FROM plan_operations
                WHERE plan_id = :plan AND NOT undone AND kind NOT IN ('create', 'undo', 'redo')
                ORDER BY seq DESC LIMIT 1"""),
        {"plan": plan_id},
    ).first()
    if last is None:
        raise Conflict(f"plan {plan_id} has no edit to undo", where="undo")
    change = Change.from_json(last.inverse)
    redo = apply_change(session, plan_id, change)
    session.execute(
        text("UPDATE plan_operations SET undone = true WHERE plan_id = :plan AND seq = :seq"),
        {"plan": plan_id, "seq": last.seq},
    )
    after = locked.version + 1
    payload = {**Undo().payload(), "undoes": last.seq, "kind": last.kind}
    seq = log_operation(session, plan_id, Undo.kind, actor, payload, redo, version=after)
    return _result(plan_id, after, seq, Undo.kind, change, {"undid": {"operation": last.seq, "kind": last.kind}})


def _redo(session: Session, plan_id: int, *, version: int | None, actor: str) -> EditResult:
    """Take back the newest undo that is still in effect, as long as no new edit came after it (a new edit ends
    the redo history, as in any editor). The undo's logged inverse re-applies the edit; the edit counts as live
    again, so the next undo takes it back."""
    locked = lock_draft(session, plan_id, version)
    last = session.execute(
        text("""SELECT u.seq, u.inverse, u.payload FROM plan_operations u
                WHERE u.plan_id = :plan AND u.kind = 'undo' AND NOT u.undone
                  AND u.seq > COALESCE((SELECT max(e.seq) FROM plan_operations e WHERE e.plan_id = :plan
                                        AND e.kind NOT IN ('create', 'undo', 'redo')), 0)
                ORDER BY u.seq DESC LIMIT 1"""),
        {"plan": plan_id},
    ).first()
    if last is None:
        raise Conflict(f"plan {plan_id} has no undone edit to redo", where="redo")
    redone, kind = int(last.payload["undoes"]), str(last.payload["kind"])
    change = Change.from_json(last.inverse)
    again = apply_change(session, plan_id, change)
    session.execute(
        text("""UPDATE plan_operations SET undone = (seq = :undo) WHERE plan_id = :plan AND seq IN (:undo, :edit)"""),
        {"plan": plan_id, "undo": last.seq, "edit": redone},
    )
    after = locked.version + 1
    payload = {**Redo().payload(), "redoes": redone, "kind": kind, "undo": last.seq}
    seq = log_operation(session, plan_id, Redo.kind, actor, payload, again, version=after)
    return _result(plan_id, after, seq, Redo.kind, change, {"redid": {"operation": redone, "kind": kind}})


def _result(plan_id: int, version: int, seq: int, kind: str, change: Change, details: Details) -> EditResult:
    created = [g.id for g in change.create]
    changed = sorted((set(change.moves.values()) | set(change.recode)) - set(created) - set(change.delete))
    return EditResult(plan_id, version, seq, kind, created, changed, list(change.delete), details)


def grid_ids(session: Session, plan_id: int, refs: Sequence[int | str]) -> list[int]:
    """The ids of grids of the plan named by id or by code, in the order given.

    A value that is the id of a grid of this plan is that grid; any other value is read as a code of the plan
    (codes are long digit strings that could be mistaken for ids). Unknown values are named in the 404."""
    values = [str(r).strip() for r in refs]
    rows = session.execute(
        text("""SELECT id, code FROM grids WHERE plan_id = :plan
                AND (code = ANY(:values) OR id = ANY(:ids))"""),
        {"plan": plan_id, "values": values, "ids": [int(v) for v in values if _is_id(v)]},
    ).all()
    by_id = {str(r.id): r.id for r in rows}
    by_code = {r.code: r.id for r in rows}
    found = [by_id.get(v, by_code.get(v)) for v in values]
    unknown = [v for v, g in zip(values, found, strict=True) if g is None]
    if unknown:
        raise NotFound(f"plan {plan_id} has no grid with the id or code {', '.join(unknown)}", where="grids")
    return [g for g in found if g is not None]


def _is_id(value: str) -> bool:
    """Could be a grid id (a positive int4)."""
    return ascii_digits(value) and int(value) < 2**31


def _grids(session: Session, plan_id: int, grid_ids: list[int]) -> dict[int, Any]:
    rows = session.execute(
        text("SELECT id, code, name, community_id, lineage FROM grids WHERE plan_id = :plan AND id = ANY(:ids)"),
        {"plan": plan_id, "ids": grid_ids},
    ).all()
    found = {r.id: r for r in rows}
    missing = [g for g in grid_ids if g not in found]
    if missing:
        raise NotFound(f"grids {missing} are not in plan {plan_id}", where="grids")
    return found


def adjacent_grids(session: Session, plan_id: int, grid_ids: list[int] | None = None) -> list[tuple[int, int]]:
    """Pairs of grids (a < b) of the plan that have adjacent units, optionally among `grid_ids` only."""
    rows = session.execute(
        text("""SELECT DISTINCT ga.grid_id, gb.grid_id
                FROM unit_adjacency j
                JOIN assignments ga ON ga.plan_id = :plan AND ga.unit_id = j.unit_a
                JOIN assignments gb ON gb.plan_id = :plan AND gb.unit_id = j.unit_b
                WHERE ga.grid_id <> gb.grid_id
                  AND (CAST(:ids AS int[]) IS NULL OR (ga.grid_id = ANY(:ids) AND gb.grid_id = ANY(:ids)))"""),
        {"plan": plan_id, "ids": grid_ids},
    ).all()
    return sorted({(min(a, b), max(a, b)) for a, b in rows})


def _grid_adjacency(session: Session, plan_id: int, grid_ids: list[int]) -> nx.Graph:
    """Grids as nodes, an edge where two of them have adjacent units."""
    graph = nx.Graph()
    graph.add_nodes_from(grid_ids)
    graph.add_edges_from(adjacent_grids(session, plan_id, grid_ids))
    return graph


def merge(session: Session, plan_id: int, grid_ids: list[int]) -> tuple[Change, Details]:
    """All units of the grids go to the first one; the others are removed. The grids must be adjacent."""
    if len(set(grid_ids)) < 2:
        raise InvalidInput("merge needs at least two different grids", where="grids")
    grid_ids = list(dict.fromkeys(grid_ids))
    grids = _grids(session, plan_id, grid_ids)
    graph = _grid_adjacency(session, plan_id, grid_ids)
    if not nx.is_connected(graph):
        parts = [sorted(grids[g].code for g in c) for c in nx.connected_components(graph)]
        raise InvalidInput(
            "grids must be adjacent to be merged; these groups do not touch each other: "
            + " | ".join(", ".join(p) for p in parts),
            where="grids",
        )
    keep, others = grid_ids[0], grid_ids[1:]
    moves = {unit: keep for unit in units_of_grids(session, plan_id, others)}
    return Change(moves=moves, delete=others), {"merged_into": keep}


def _next_codes(session: Session, plan_id: int, code: str, n: int) -> list[str]:
    """Provisional codes for grids split off `code`: the next free sequences in its community."""
    prefix, sequence = code[:-2], code[-2:]
    if not (ascii_digits(code) and ascii_digits(sequence)):
        return [f"{code}-{i + 2}" for i in range(n)]
    used = (
        session.execute(
            text("SELECT code FROM grids WHERE plan_id = :plan AND code LIKE :prefix"),
            {"plan": plan_id, "prefix": prefix + "__"},
        )
        .scalars()
        .all()
    )
    taken = {int(c[-2:]) for c in used if ascii_digits(c[-2:])}
    free = [s for s in range(1, 100) if s not in taken][:n]
    if len(free) < n:
        return [f"{code}-{i + 2}" for i in range(n)]
    return [f"{prefix}{s:02d}" for s in free]


def split(session: Session, plan_id: int, grid_id: int, line: shapely.LineString) -> tuple[Change, Details]:
    """Cut a grid with a line; each unit joins the piece its representative point lies in."""
    grid = _grids(session, plan_id, [grid_id])[grid_id]
    epsg = dataset.metric_epsg(session)
    units = metric_frame(
        session,
        """SELECT u.id, ST_Transform(ST_PointOnSurface(u.geom), :epsg) AS geom
           FROM assignments a JOIN units u ON u.id = a.unit_id
           WHERE a.plan_id = :plan AND a.grid_id = :grid ORDER BY u.id""",
        {"plan": plan_id, "grid": grid_id},
    )
    outline = shapely.from_wkb(
        session.execute(
            text("SELECT ST_AsBinary(ST_Transform(geom, :epsg)) FROM grids WHERE id = :grid"),
            {"grid": grid_id, "epsg": epsg},
        ).scalar_one()
    )
    cut = gpd.GeoSeries([line], crs=STORAGE_CRS).to_crs(epsg).iloc[0]
    pieces = list(split_polygon(outline, cut).geoms)
    if len(pieces) < 2:
        raise InvalidInput(f"the line does not cross grid {grid.code} from side to side", where="line")
    pieces.sort(key=lambda p: -p.area)
    side = _side_of(units.geometry.to_numpy(), pieces)
    used = sorted(set(side.tolist()))
    if len(used) < 2:
        raise InvalidInput(f"the line does not separate any units of grid {grid.code}", where="line")
    keep_piece = max(used, key=lambda s: (int((side == s).sum()), -s))
    new_pieces = [s for s in used if s != keep_piece]
    ids = new_grid_ids(session, len(new_pieces))
    codes = _next_codes(session, plan_id, grid.code, len(new_pieces))
    create = [
        GridSpec(gid, code, f"{grid.name}（{i + 2}）" if grid.name else None, grid.community_id, _lineage(session))
        for i, (gid, code) in enumerate(zip(ids, codes, strict=True))
    ]
    target = dict(zip(new_pieces, ids, strict=True))
    moves = {int(u): target[s] for u, s in zip(units["id"], side, strict=True) if s in target}
    return Change(create=create, moves=moves), {"new_grids": [{"id": g.id, "code": g.code} for g in create]}


def _side_of(points: np.ndarray, pieces: list[shapely.Geometry]) -> np.ndarray:
    """Index of the piece holding each point (the nearest piece for points on the cut itself)."""
    tree = shapely.STRtree(pieces)
    point_idx, piece_idx = tree.query(points, predicate="within")
    side = np.full(len(points), -1)
    side[point_idx] = piece_idx
    lost = np.flatnonzero(side < 0)
    if len(lost):
        side[lost] = tree.query_nearest(points[lost], all_matches=False)[1]
    return side


def _lineage(session: Session) -> str:
    return session.execute(text("SELECT gen_random_uuid()::text")).scalar_one()


def redraw(session: Session, plan_id: int, grid_id: int, polygon: shapely.Geometry) -> tuple[Change, Details]:
    """The units whose representative point lies inside the polygon join the grid."""
    grid = _grids(session, plan_id, [grid_id])[grid_id]
    rows = session.execute(
        text("""SELECT a.unit_id, a.grid_id FROM assignments a JOIN units u ON u.id = a.unit_id
                WHERE a.plan_id = :plan AND a.grid_id <> :grid
                  AND ST_Covers(ST_GeomFromWKB(:polygon, 4326), ST_PointOnSurface(u.geom))"""),
        {"plan": plan_id, "grid": grid_id, "polygon": shapely.to_wkb(polygon)},
    ).all()
    if not rows:
        raise InvalidInput(f"the polygon takes in no unit from outside grid {grid.code}", where="polygon")
    moves = {unit: grid_id for unit, _ in rows}
    return Change(moves=moves, delete=_emptied(session, plan_id, moves)), {}


def reassign(session: Session, plan_id: int, grid_id: int, building_ids: list[int]) -> tuple[Change, Details]:
    """The units of the buildings join the grid (a unit holding two buildings moves both)."""
    _grids(session, plan_id, [grid_id])
    if not building_ids:
        raise InvalidInput("reassign needs at least one building", where="buildings")
    rows = session.execute(
        text("""SELECT b.id, b.unit_id, a.grid_id FROM buildings b
                LEFT JOIN assignments a ON a.plan_id = :plan AND a.unit_id = b.unit_id
                WHERE b.id = ANY(:ids)"""),
        {"plan": plan_id, "ids": building_ids},
    ).all()
    missing = sorted(set(building_ids) - {r.id for r in rows})
    if missing:
        raise NotFound(f"buildings {missing[:20]} do not exist", where="buildings")
    unplaced = [r.id for r in rows if r.grid_id is None]
    if unplaced:
        raise InvalidInput(f"buildings {unplaced[:20]} are in no unit of this plan", where="buildings")
    moves = {r.unit_id: grid_id for r in rows if r.grid_id != grid_id}
    if not moves:
        raise InvalidInput(f"the buildings are already in grid {grid_id}", where="buildings")
    return Change(moves=moves, delete=_emptied(session, plan_id, moves)), {}


def _emptied(session: Session, plan_id: int, moves: dict[int, int]) -> list[int]:
    """Grids that lose all their units to `moves`."""
    return list(
        session.execute(
            text("""SELECT a.grid_id FROM assignments a WHERE a.plan_id = :plan
                    GROUP BY a.grid_id
                    HAVING bool_and(a.unit_id = ANY(:units)) AND NOT (a.grid_id = ANY(:targets))"""),
            {"plan": plan_id, "units": list(moves), "targets": list(set(moves.values()))},
        ).scalars()
    )


@dataclass
class BalanceProposal:
    """What a rebalance would do, computed from the plan as it stands, before any id is taken or row written:
    the units (id, households, compound, community, grid) and the part each one goes to, the existing grid each
    part keeps (by greatest overlap) and the grids left over. `token` fingerprints the plan's version, the band
    and the partition: a preview hands it out and an apply carrying it must come out the same."""

    units: Sequence[Any]
    parts: np.ndarray
    part_grid: dict[int, int]  # part → the existing grid it keeps; parts not here become new grids
    spare: list[int]  # grids of the community that no part keeps (removed)
    grid_ids: list[int]
    band: tuple[int, int]
    details: Details
    token: str

    def new_parts(self) -> list[int]:
        return [p for p in sorted(set(self.parts.tolist())) if p not in self.part_grid]


def balance(
    session: Session,
    plan_id: int,
    *,
    community: str | None = None,
    grid_ids: list[int] | None = None,
    min_households: int,
    max_households: int,
    seed: int = 0,
    weights: dict[str, float] | None = None,
    months: int = 6,
    token: str | None = None,
) -> tuple[Change, Details]:
    """Repartition a community (or chosen grids) into contiguous grids within the household band; with `weights`,
    then even out the load of managing them (households, incidents of the last `months` months, patrol length)
    while keeping the band (gis/plans/workload.py). With `token` (from a preview) the result must be the previewed
    one, else 409 and nothing changes."""
    proposal = propose_balance(
        session,
        plan_id,
        community=community,
        grid_ids=grid_ids,
        min_households=min_households,
        max_households=max_households,
        seed=seed,
        weights=weights,
        months=months,
    )
    if token is not None and token != proposal.token:
        raise Conflict(
            "the rebalance no longer gives the previewed grids (the plan or its data changed): preview it again",
            where="token",
        )
    missing = proposal.new_parts()
    ids = new_grid_ids(session, len(missing))
    grid_ids = proposal.grid_ids
    template = _grids(session, plan_id, [grid_ids[0]])[grid_ids[0]]
    codes = _next_codes(session, plan_id, template.code, len(missing))
    create = [
        GridSpec(gid, code, None, template.community_id, _lineage(session))
        for gid, code in zip(ids, codes, strict=True)
    ]
    part_grid = proposal.part_grid | dict(zip(missing, ids, strict=True))
    moves = {
        u.id: part_grid[int(p)]
        for u, p in zip(proposal.units, proposal.parts, strict=True)
        if part_grid[int(p)] != u.grid_id
    }
    change = Change(create=create, moves=moves, delete=proposal.spare, band=proposal.band)
    return change, proposal.details


def propose_balance(
    session: Session,
    plan_id: int,
    *,
    community: str | None = None,
    grid_ids: list[int] | None = None,
    min_households: int,
    max_households: int,
    seed: int = 0,
    weights: dict[str, float] | None = None,
    months: int = 6,
) -> BalanceProposal:
    """The partition a rebalance would make, read-only (the preview and the edit share it)."""
    if min_households < 0 or max_households < min_households:
        raise InvalidInput("the household band needs 0 ≤ min_households ≤ max_households", where="band")
    if weights is not None:
        try:
            check_weights(weights)
        except ValueError as exc:
            raise InvalidInput(str(exc), where="weights") from None
    if grid_ids:
        _grids(session, plan_id, grid_ids)
    elif community:
        grid_ids = list(
            session.execute(
                text("""SELECT DISTINCT a.grid_id FROM assignments a JOIN units u ON u.id = a.unit_id
                    JOIN communities c ON c.id = u.community_id WHERE a.plan_id = :plan AND c.code = :code
                    ORDER BY a.grid_id"""),
                {"plan": plan_id, "code": community},
            ).scalars()
        )
        if not grid_ids:
            raise NotFound(f"community {community} has no grids in plan {plan_id}", where="community")
    else:
        raise InvalidInput("balance needs a community code or a list of grids", where="community")
    units = session.execute(
        text("""SELECT u.id, u.households, u.compound, u.community_id, a.grid_id
                FROM assignments a JOIN units u ON u.id = a.unit_id
                WHERE a.plan_id = :plan AND a.grid_id = ANY(:ids) ORDER BY u.id"""),
        {"plan": plan_id, "ids": grid_ids},
    ).all()
    index = {u.id: i for i, u in enumerate(units)}
    pairs = session.execute(
        text("SELECT unit_a, unit_b FROM unit_adjacency WHERE unit_a = ANY(:ids) AND unit_b = ANY(:ids)"),
        {"ids": list(index)},
    ).all()
    adjacency = np.array([(index[a], index[b]) for a, b in pairs], dtype=np.int64).reshape(-1, 2)
    result = balance_units(
        np.array([u.households for u in units], dtype=np.int64),
        adjacency,
        min_households=min_households,
        max_households=max_households,
        compounds=[u.compound for u in units],
        seed=seed,
    )
    parts, workload = result.parts, None
    band = (min_households, max_households)
    if weights:
        parts, workload = _even_out_load(session, units, adjacency, result, band, weights, months, seed=seed)
    part_grid = _match_parts(units, parts, grid_ids)
    spare = [g for g in grid_ids if g not in part_grid.values()]
    households = np.bincount(parts, weights=[u.households for u in units]).astype(np.int64)
    details = {
        "balance": {
            "satisfied": result.satisfied,
            "problems": result.problems,
            "attempts": result.attempts,
            "households": sorted(int(h) for h in households),
            **({"workload": workload} if workload is not None else {}),
        }
    }
    version = plan_row(session, plan_id).version
    token = _proposal_token(plan_id, version, band, [u.id for u in units], parts)
    return BalanceProposal(units, parts, part_grid, spare, list(grid_ids), band, details, token)


def _proposal_token(plan_id: int, version: int, band: tuple[int, int], unit_ids: list[int], parts: np.ndarray) -> str:
    """A fingerprint of a rebalance: the plan at its version, the band and which units go together (the parts
    as sets of unit ids, whatever their numbers)."""
    groups: dict[int, list[int]] = {}
    for unit, part in zip(unit_ids, parts.tolist(), strict=True):
        groups.setdefault(part, []).append(unit)
    canonical = json.dumps([plan_id, version, list(band), sorted(sorted(g) for g in groups.values())])
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _even_out_load(
    session: Session,
    units: Sequence[Any],
    adjacency: np.ndarray,
    result: BalanceResult,
    band: tuple[int, int],
    weights: dict[str, float],
    months: int,
    *,
    seed: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The household balance's parts moved towards even loads, and each part's load by its parts."""
    values = _load_parts(session, [u.id for u in units], months)
    n_parts = int(result.parts.max()) + 1
    load = unit_loads(values, weights, n_parts)
    if not result.satisfied:
        note = "the household balance is not satisfied, so the loads were not evened out"
        return result.parts, {"evened": False, "reason": note}
    households = values["households"]
    evened = even_out_load(
        result.parts, households, load, adjacency, band=band, compounds=[u.compound for u in units], seed=seed
    )
    grids = [
        {
            "households": int(households[evened.parts == part].sum()),
            "incidents": int(values["incidents"][evened.parts == part].sum()),
            "patrol_m": round(float(values["patrol_m"][evened.parts == part].sum()), 1),
            "load": round(float(evened.load[part]), 3),
        }
        for part in range(n_parts)
    ]
    return evened.parts, {
        "evened": True,
        "weights": weights,
        "months": months,
        "moves": evened.moves,
        "spread_before": round(evened.spread_before, 4),
        "spread_after": round(evened.spread_after, 4),
        "grids": sorted(grids, key=lambda g: g["load"]),
    }


def _load_parts(session: Session, unit_ids: list[int], months: int) -> dict[str, np.ndarray]:
    """Per unit (in the order of `unit_ids`): households, incidents reported in the last `months` months that lie in
    it (duplicates and rejected reports do not count) and metres of walking network inside it."""
    rows = session.execute(
        text("""
        SELECT u.households,
               (SELECT count(*) FROM incidents i
                WHERE ST_Covers(u.geom, i.location) AND i.reported_at >= now() - make_interval(months => :months)
                  AND i.status NOT IN ('duplicate', 'rejected')) AS incidents,
               coalesce((SELECT sum(ST_Length(ST_Intersection(n.geom, u.geom)::geography)) FROM network_edges n
                         WHERE n.geom && u.geom AND ST_Intersects(n.geom, u.geom)), 0) AS patrol_m
        FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS x(id, n) JOIN units u ON u.id = x.id
        ORDER BY x.n"""),
        {"ids": unit_ids, "months": months},
    ).all()
    return {
        "households": np.array([r.households for r in rows], dtype=np.int64),
        "incidents": np.array([r.incidents for r in rows], dtype=np.int64),
        "patrol_m": np.array([r.patrol_m for r in rows], dtype=float),
    }


def _match_parts(units: Sequence[Any], parts: np.ndarray, grid_ids: list[int]) -> dict[int, int]:
    """Each new part keeps the id of the old grid it shares most households (then units) with, greedily."""
    overlap: dict[tuple[int, int], tuple[int, int]] = {}
    for unit, part in zip(units, parts, strict=True):
        key = (int(part), unit.grid_id)
        households, count = overlap.get(key, (0, 0))
        overlap[key] = (households + unit.households, count + 1)
    matched: dict[int, int] = {}
    taken: set[int] = set()
    for (part, grid), _ in sorted(overlap.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0])):
        if part not in matched and grid not in taken and grid in grid_ids:
            matched[part] = grid
            taken.add(grid)
    return matched


def renumber(session: Session, plan_id: int, layout_name: str | None = None) -> tuple[Change, Details]:
    """Standard codes for every grid of the plan; returns the old → new map."""
    try:
        layout = code_layout(layout_name or plan_row(session, plan_id).code_layout)
    except ValueError as exc:  # an unknown layout name: the client's mistake, said with the known ones
        raise InvalidInput(f"layout: {exc}", where="layout") from None
    grids = metric_frame(
        session,
        """SELECT g.id, g.code, g.name, ST_Transform(g.geom, :epsg) AS geom,
                  ARRAY(SELECT DISTINCT c.code FROM assignments a JOIN units u ON u.id = a.unit_id
                        JOIN communities c ON c.id = u.community_id
                        WHERE a.grid_id = g.id ORDER BY c.code) AS community_codes
           FROM grids g WHERE g.plan_id = :plan ORDER BY g.id""",
        {"plan": plan_id},
    )
    if grids.empty:
        raise InvalidInput(f"plan {plan_id} has no grids to number", where="plan")
    grids["community_codes"] = [tuple(c) for c in grids["community_codes"]]
    try:
        codes = number_grids(grids, layout)
        mapping = renumber_map(grids["code"].tolist(), codes)
    except ValueError as exc:  # the plan's data does not fit the layout (community codes, too many grids)
        raise InvalidInput(f"layout {layout.name}: {exc}", where="layout") from None
    recode = {
        int(g): (new, name)
        for g, old, new, name in zip(grids["id"], grids["code"], codes, grids["name"], strict=True)
        if old != new
    }
    return Change(recode=recode), {"codes": mapping, "layout": layout.name}
