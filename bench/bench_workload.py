"""Grids balanced by workload (households, incidents, patrol length) beside the households-only balance, on the demo
district with its 90-day incident history.

    python -m bench.bench_workload [--weights households=1,incidents=1,patrol_m=1] [--months 3]

Every community of the demo is rebalanced twice from the published plan, each time in a fresh draft: by households
alone (gridmap's balance, the peer) and by workload (the same balance, then GerryChain flips that even out the load
while keeping the band). For each, over all the demo's grids: the spread (coefficient of variation) of incidents per
grid and of patrol length per grid — what the workload balance is for — the share of grids within the 300–500
household band, and the time of the whole edit. Lower spread is better; the ratio column is households-only ÷
workload, so above 1 means the workload balance spreads the work more evenly.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.common import Row, bench_engine, print_table
from gis.exchange.demo import load_demo
from gis.plans.commands import Balance
from gis.plans.edits import handle
from gis.plans.lifecycle import create_plan
from gis.settings import get_settings

BAND = (300, 500)


def run(weights: dict[str, float], months: int) -> list[Row]:
    engine = bench_engine("gridmap_bench_workload")
    settings = get_settings()
    with Session(engine) as session, session.begin():
        load_demo(session, settings, incidents=True)
    with Session(engine) as session:
        communities = list(session.execute(text("SELECT code FROM communities ORDER BY code")).scalars())
    results = {}
    for label, chosen in (("households", None), ("workload", weights)):
        with Session(engine) as session, session.begin():
            plan = create_plan(session, base="current", name=f"bench {label}", actor="bench")["id"]
            start = time.perf_counter()
            for code in communities:
                command = Balance(
                    community=code,
                    min_households=BAND[0],
                    max_households=BAND[1],
                    weights=tuple(sorted(chosen.items())) if chosen else None,
                    months=months,
                )
                handle(session, plan, command, version=None, actor="bench")
            elapsed = time.perf_counter() - start
            results[label] = (_spreads(session, plan, months), elapsed)
            session.rollback()
    (h_spread, h_time), (w_spread, w_time) = results["households"], results["workload"]
    size = f"{len(communities)} communities, {h_spread['grids']} grids"
    return [
        Row("incidents per grid (CV)", size, w_spread["incidents"], "households-only", h_spread["incidents"], ""),
        Row("patrol length per grid (CV)", size, w_spread["patrol_m"], "households-only", h_spread["patrol_m"], ""),
        Row("households per grid (CV)", size, w_spread["households"], "households-only", h_spread["households"], ""),
        Row("grids within 300–500 households", size, w_spread["in_band"], "households-only", h_spread["in_band"], ""),
        Row("time of the edits", size, w_time, "households-only", h_time),
    ]


def _spreads(session: Session, plan: int, months: int) -> dict[str, float]:
    rows = session.execute(
        text("""
        SELECT g.households,
               (SELECT count(*) FROM incidents i WHERE ST_Covers(g.geom, i.location)
                  AND i.reported_at >= now() - make_interval(months => :months)
                  AND i.status NOT IN ('duplicate', 'rejected')) AS incidents,
               (SELECT coalesce(sum(ST_Length(ST_Intersection(n.geom, g.geom)::geography)), 0) FROM network_edges n
                WHERE ST_Intersects(n.geom, g.geom)) AS patrol_m
        FROM grids g WHERE g.plan_id = :plan"""),
        {"plan": plan, "months": months},
    ).all()
    households = np.array([r.households for r in rows], dtype=float)
    return {
        "grids": len(rows),
        "households": _cv(households),
        "incidents": _cv(np.array([r.incidents for r in rows], dtype=float)),
        "patrol_m": _cv(np.array([r.patrol_m for r in rows], dtype=float)),
        "in_band": float(((households >= BAND[0]) & (households <= BAND[1])).mean()),
    }


def _cv(values: np.ndarray) -> float:
    return float(values.std() / values.mean()) if values.mean() else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="households=1,incidents=1,patrol_m=1")
    parser.add_argument("--months", type=int, default=3)
    args = parser.parse_args(argv)
    weights = {k: float(v) for k, v in (item.split("=") for item in args.weights.split(","))}
    print_table(
        f"Workload balance ({args.weights}, incidents of {args.months} months) beside the households-only balance",
        run(weights, args.months),
        "spread rows: coefficient of variation, lower is more even; ratio = households-only ÷ workload "
        "(> 1: the workload balance is more even); the band row is the share of grids within it (ratio 1 = same)",
    )


if __name__ == "__main__":
    main()
