"""`make loadtest`: incident reports under load while the server is SIGKILLed and restarted; nothing lost or doubled.

A fresh database (`gridmap_loadtest`) gets the demo district; `gridmap serve` runs as its own OS process.
An async client submits `--incidents` reports at a fixed `--concurrency`, each with its own
Idempotency-Key and a random point inside a demo building, and retries with backoff (same key) on
connection errors, timeouts, 5xx and 429. After each `--kill-after` share of acknowledgements the server
process gets SIGKILL and a new one is started on the same port while the clients keep retrying.

Afterwards the database must hold every acknowledged report exactly once, under the acknowledged id,
with exactly one report event; reports whose answer was lost in the crash but were committed must be
there exactly once too. Exit status 1 when anything is lost, duplicated or mismatched.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from psycopg import sql
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.common import bench_engine, console
from gis.db.cluster import plain_dsn
from gis.db.engine import transaction
from gis.exchange.demo import load_demo
from gis.registry import incident_categories
from gis.settings import get_settings

DATABASE = "gridmap_loadtest"
# The public's channels: the reports are anonymous unless --token, and patrol/sensor are for staff (403).
CHANNELS = ("app", "wechat", "hotline")
MARKER = "loadtest "  # descriptions carry the key: duplicates show even if a server ignored the key


@dataclass
class Submission:
    key: str
    body: dict[str, Any]
    incident_id: int | None = None  # what the acknowledgement named
    replayed: bool = False  # acknowledged by a 200 replay: an earlier attempt had committed it
    attempts: int = 0
    latency_s: float = 0.0  # the answered request
    total_s: float = 0.0  # first attempt to acknowledgement, retries included
    failure: str | None = None  # a refusal (4xx) or giving up


@dataclass
class Stats:
    retry_causes: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # set on every acknowledgement


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """`gridmap serve` as a child process (the console script execs Python itself: its pid is the server)."""

    def __init__(self, port: int, database_url: str, log: Path) -> None:
        self.port = port
        self.log = log
        self.env = {
            **os.environ,
            "GRIDMAP_DATABASE_URL": database_url,
            "GRIDMAP_ANONYMOUS_SUBMISSIONS_PER_MINUTE": "0",  # one client IP sends everything: no rate limit
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        gridmap = str(Path(sys.executable).parent / "gridmap")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [gridmap, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    async def wait_healthy(self, client: httpx.AsyncClient, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log}")
            try:
                if (await client.get("/health", timeout=5)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not answer /health within {timeout_s:.0f} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no draining; in-flight transactions die with their connections."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if port_open(self.port):  # the proof that the killed pid was the server, not a wrapper
            raise RuntimeError(f"port {self.port} still answers after SIGKILL of pid {self.process.pid}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def prepare(n: int, seed: int) -> tuple[Engine, list[Submission]]:
    """The demo district in a fresh database, and n reports at random points inside its buildings."""
    engine = bench_engine(DATABASE)
    with transaction(engine) as session:
        load_demo(session, get_settings())
    with engine.connect() as conn:
        buildings = conn.execute(text("SELECT count(*) FROM buildings")).scalar_one()
        per_building = math.ceil(n / buildings)
        points = conn.execute(
            text("""SELECT ST_X(p.geom), ST_Y(p.geom)
                    FROM buildings b, ST_Dump(ST_GeneratePoints(b.footprint, :k, :seed)) p ORDER BY b.id, p.path"""),
            {"k": per_building, "seed": seed},
        ).all()
    rng = random.Random(seed)
    categories = sorted(incident_categories())
    run = f"{rng.getrandbits(32):08x}"
    submissions = []
    # Without replacement while there are enough points (a degenerate footprint yields none).
    chosen = rng.sample(points, n) if len(points) >= n else rng.choices(points, k=n)
    for i, (lon, lat) in enumerate(chosen):
        key = f"lt-{run}-{i:05d}"
        body = {
            "category": rng.choice(categories),
            "description": MARKER + key,
            "location": {"lon": lon, "lat": lat},
            "channel": rng.choice(CHANNELS),
        }
        submissions.append(Submission(key, body))
    return engine, submissions


def backoff(attempt: int, rng: random.Random, base: float = 0.05, cap: float = 2.0) -> float:
    # Exponential with jitter, so the clients that all lost the server at once do not return in lockstep.
    return min(cap, base * 2 ** (attempt - 1)) * rng.uniform(0.5, 1.0)


async def submit(
    client: httpx.AsyncClient, sub: Submission, stats: Stats, rng: random.Random, give_up_s: float, headers: dict
) -> None:
    started = time.perf_counter()
    while True:
        sub.attempts += 1
        sent = time.perf_counter()
        delay = backoff(sub.attempts, rng)
        try:
            response = await client.post(
                "/api/incidents", json=sub.body, headers={**headers, "Idempotency-Key": sub.key}
            )
        except httpx.TransportError as exc:  # refused, reset, closed mid-answer, timed out
            stats.retry_causes[type(exc).__name__] += 1
        else:
            if response.status_code in (200, 201):
                now = time.perf_counter()
                sub.incident_id = response.json()["id"]
                sub.replayed = response.status_code == 200
                sub.latency_s, sub.total_s = now - sent, now - started
                stats.acknowledged += 1
                stats.progress.set()
                return
            if response.status_code < 500 and response.status_code != 429:
                sub.failure = f"{response.status_code} {response.text[:300]}"
                return
            stats.retry_causes[f"HTTP {response.status_code}"] += 1
            if response.status_code == 429 and response.headers.get("Retry-After", "").isdigit():
                delay = float(response.headers["Retry-After"])
        if time.perf_counter() - started > give_up_s:
            sub.failure = f"gave up after {sub.attempts} attempts"
            return
        await asyncio.sleep(delay)


async def drive(
    args: argparse.Namespace, server: Server, submissions: list[Submission], stats: Stats
) -> tuple[float, list[float]]:
    """Submit everything at the fixed concurrency, killing and restarting the server on the way.

    Returns the wall time and, per kill, the seconds from SIGKILL until the new server answered /health."""
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    timeout = httpx.Timeout(args.timeout, connect=5)
    base_url = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        await server.wait_healthy(client)
        queue = iter(submissions)

        async def worker(n: int) -> None:
            rng = random.Random(args.seed * 1000 + n)
            for sub in queue:  # one shared iterator: each worker takes the next report when it is free
                await submit(client, sub, stats, rng, args.give_up, headers)

        async def killer() -> list[float]:
            downtimes = []
            for share in sorted(args.kill_after):
                while stats.acknowledged < share * len(submissions):
                    stats.progress.clear()
                    await stats.progress.wait()
                killed = time.perf_counter()
                server.kill()
                console.print(f"SIGKILL after {stats.acknowledged:,} acknowledgements; restarting")
                server.start()
                async with httpx.AsyncClient(base_url=base_url) as probe:
                    await server.wait_healthy(probe)
                downtimes.append(time.perf_counter() - killed)
            return downtimes

        start = time.perf_counter()
        kills = asyncio.create_task(killer())
        await asyncio.gather(*(worker(n) for n in range(args.concurrency)))
        elapsed = time.perf_counter() - start
        if stats.acknowledged < max(args.kill_after) * len(submissions):  # a kill is still waiting for its share
            kills.cancel()
            console.print("[red]not every kill happened: too few reports were acknowledged[/red]")
            return elapsed, []
        return elapsed, await kills


@dataclass
class Verdict:
    lost: list[str]  # acknowledged, not in the database
    mismatched: list[str]  # in the database under another id than acknowledged
    duplicated: int  # rows beyond the first per submitted report
    unacknowledged_committed: int  # answer lost (or given up) but stored: fine if exactly once
    stray: int  # rows no submission explains
    event_errors: int  # incidents without exactly one report event (incident and event not atomic)


def verify(engine: Engine, submissions: list[Submission]) -> Verdict:
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT i.id, i.idempotency_key, i.description,
                           (SELECT count(*) FROM incident_events e
                            WHERE e.incident_id = i.id AND e.action = 'report') AS reports
                    FROM incidents i""")
        ).all()
    # A row belongs to a submission by its key or by the key in its description: either way counts, so a
    # report stored twice (e.g. once without its key) shows as a duplicate.
    rows_of: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        for key in (row.idempotency_key, (row.description or "").removeprefix(MARKER) or None):
            if key is not None:
                rows_of[key].add(row.id)
    keys = {s.key for s in submissions}
    explained = set().union(*(rows_of[k] for k in keys if k in rows_of))
    acknowledged = [s for s in submissions if s.incident_id is not None]
    return Verdict(
        lost=[s.key for s in acknowledged if not rows_of.get(s.key)],
        mismatched=[s.key for s in acknowledged if rows_of.get(s.key) and s.incident_id not in rows_of[s.key]],
        duplicated=sum(max(0, len(rows_of.get(k, ())) - 1) for k in keys),
        unacknowledged_committed=sum(1 for s in submissions if s.incident_id is None and rows_of.get(s.key)),
        stray=sum(1 for row in rows if row.id not in explained),
        event_errors=sum(1 for row in rows if row.reports != 1),
    )


def report(
    args: argparse.Namespace,
    submissions: list[Submission],
    stats: Stats,
    elapsed: float,
    downtimes: list[float],
    v: Verdict,
) -> bool:
    acked = [s for s in submissions if s.incident_id is not None]
    failed = [s for s in submissions if s.failure is not None]
    attempts = sum(s.attempts for s in submissions)
    latency = np.array([s.latency_s for s in acked]) * 1000
    total = np.array([s.total_s for s in acked]) * 1000

    def pct(values: np.ndarray, q: float) -> str:
        return f"{np.percentile(values, q):,.0f} ms" if len(values) else "–"

    table = Table(
        title="POST /api/incidents under load, server SIGKILLed and restarted",
        caption=f"concurrency {args.concurrency}; SIGKILL after "
        f"{', '.join(f'{k:.0%}' for k in sorted(args.kill_after))} of the reports were acknowledged",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("reports submitted (one Idempotency-Key each)", f"{len(submissions):,}"),
        (
            "acknowledged (201 created / 200 replayed)",
            f"{len(acked):,} ({sum(not s.replayed for s in acked):,} / {sum(s.replayed for s in acked):,})",
        ),
        ("not acknowledged (refused or given up)", f"{len(failed):,}"),
        ("wall time, restarts included", f"{elapsed:,.1f} s"),
        ("throughput (acknowledged reports / s)", f"{len(acked) / elapsed:,.0f}"),
        ("requests sent", f"{attempts:,} ({attempts / elapsed:,.0f} /s)"),
        ("retries", f"{attempts - len(submissions):,}"),
        ("server restarts after SIGKILL", f"{len(downtimes)}"),
        ("downtime per restart (SIGKILL → /health)", ", ".join(f"{d:.1f} s" for d in downtimes) or "–"),
        ("latency p50 / p99 (answered requests)", f"{pct(latency, 50)} / {pct(latency, 99)}"),
        ("end to end p50 / p99 (retries included)", f"{pct(total, 50)} / {pct(total, 99)}"),
        ("stored but never acknowledged (each once)", f"{v.unacknowledged_committed:,}"),
        ("lost (acknowledged, not stored)", f"{len(v.lost):,}"),
        ("duplicated (stored more than once)", f"{v.duplicated:,}"),
        ("stored under another id than acknowledged", f"{len(v.mismatched):,}"),
        ("incidents without exactly one report event", f"{v.event_errors:,}"),
        ("rows no submission explains", f"{v.stray:,}"),
    ]
    for measure, value in rows:
        table.add_row(measure, value)
    console.print(table)
    retry_causes = ", ".join(f"{cause} {n:,}" for cause, n in sorted(stats.retry_causes.items()))
    console.print(f"retry causes: {retry_causes or 'none'}")
    for s in failed[:5]:
        console.print(f"[red]{s.key}: {s.failure}[/red]")
    for label, keys in (("lost", v.lost), ("mismatched", v.mismatched)):
        if keys:
            console.print(f"[red]{label}: {', '.join(keys[:10])}{' …' if len(keys) > 10 else ''}[/red]")
    ok = not (v.lost or v.mismatched or v.duplicated or v.stray or v.event_errors or failed)
    console.print("[green]every acknowledged report is stored exactly once[/green]" if ok else "[red]FAILED[/red]")
    return ok


def drop_database(engine: Engine) -> None:
    engine.dispose()
    admin = make_url(engine.url.render_as_string(hide_password=False)).set(database="postgres")
    with psycopg.connect(plain_dsn(admin.render_as_string(hide_password=False)), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32, help="reports in flight at once")
    parser.add_argument(
        "--kill-after",
        type=float,
        nargs="+",
        default=[0.4],
        metavar="FRACTION",
        help="SIGKILL the server once this share of reports is acknowledged (several: several kills)",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per request before it is retried")
    parser.add_argument("--give-up", type=float, default=300, help="seconds after which a report stops retrying")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--token", help="bearer token, should reports ever need one (`gridmap user token`)")
    parser.add_argument("--keep-database", action="store_true", help=f"keep {DATABASE} for inspection")
    args = parser.parse_args(argv)
    if not all(0 < k < 1 for k in args.kill_after):
        parser.error("--kill-after takes fractions between 0 and 1")

    console.print(f"preparing {DATABASE}: demo district, {args.incidents:,} reports")
    engine, submissions = prepare(args.incidents, args.seed)
    log = Path(tempfile.mkstemp(prefix="gridmap-loadtest-", suffix=".log")[1])
    server = Server(args.port or free_port(), engine.url.render_as_string(hide_password=False), log)
    stats = Stats()
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the `finally` below stops the server it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        server.start()
        elapsed, downtimes = asyncio.run(drive(args, server, submissions, stats))
    finally:
        server.stop()
    verdict = verify(engine, submissions)
    ok = report(args, submissions, stats, elapsed, downtimes, verdict)
    console.print(f"server log: {log}")
    if args.keep_database:
        engine.dispose()
    else:
        drop_database(engine)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
