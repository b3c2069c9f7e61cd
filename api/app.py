"""The app factory: one place assembles routers, error mapping, static assets and the database pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine

from api import errors, headers, limits, replicas
from api.routers import (
    audit,
    auth,
    coverage,
    dashboard,
    docs,
    downloads,
    events,
    field,
    health,
    incidents,
    layers,
    locate,
    ogc,
    open311,
    pages,
    ping,
    plans,
    reach,
    resident,
    tiles,
    uploads,
    users,
    visits,
    webhooks,
    workers,
)
from gis.auth.tokens import signing_key
from gis.coverage.runs import CoverageRunner, fail_abandoned
from gis.db.cluster import plain_dsn
from gis.db.engine import POOL_CONNECTIONS, database_url, make_engine, make_read_engine, make_sessionmaker
from gis.incidents.hooks import HookDeliverer
from gis.locate.published import PublishedPlan
from gis.settings import Settings, get_settings


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. Pass `engine` to share a pool (tests); otherwise the lifespan opens and closes one."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        app.state.engine = engine if engine is not None else make_engine(database_url(settings))
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        # Request sessions open at once (api.deps.session_slot): fewer than pooled connections, leaving two
        # for /health and a background coverage run.
        app.state.session_slots = anyio.Semaphore(POOL_CONNECTIONS - 2)
        # Read-only routes on the read replica when one is configured (api.deps.get_read_session), else the primary.
        replica = app.state.read_engine = make_read_engine(settings)
        app.state.read_sessionmaker = make_sessionmaker(replica) if replica is not None else None
        app.state.replica_retry_at = 0.0
        # Hot read paths (locate) use async autocommit connections (the replica's when there is one): one round
        # trip, no thread hand-offs.
        app.state.read_pool = AsyncConnectionPool(
            plain_dsn((replica or app.state.engine).url.render_as_string(hide_password=False)),
            min_size=1,
            max_size=8,
            kwargs={"autocommit": True},
            open=False,
        )
        await app.state.read_pool.open()
        # /api/locate from memory: the published plan per process, rebuilt on NOTIFY and after this process writes.
        app.state.published_plan = PublishedPlan(app.state.read_pool)
        app.state.published_plan.watch_writes(app.state.engine)
        await app.state.published_plan.start()
        with app.state.sessionmaker() as session, session.begin():
            fail_abandoned(session)  # runs of a server that died are failed, not "running" for ever
            app.state.signing_key = signing_key(session, settings)  # shared by every process on this database
        # Works queued coverage runs, also those queued by other processes (imports, data changes, other servers).
        app.state.coverage_runner = CoverageRunner(app.state.sessionmaker, settings)
        app.state.coverage_runner.start()
        # Delivers incident webhooks from the outbox, also rows written by other processes.
        app.state.hook_deliverer = HookDeliverer(app.state.sessionmaker, settings)
        app.state.hook_deliverer.start()
        try:
            yield
        finally:
            app.state.hook_deliverer.shutdown()
            app.state.coverage_runner.shutdown()
            await app.state.published_plan.stop()
            app.state.published_plan.unwatch_writes(app.state.engine)
            await app.state.read_pool.close()
            if app.state.read_engine is not None:
                app.state.read_engine.dispose()
            if own:
                app.state.engine.dispose()

    app = FastAPI(
        title="gridmap",
        summary="网格化管理 — community grids, buildings, facilities and incidents on PostGIS",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from api/routers/docs.py, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    errors.install(app)
    limits.install(app)  # body size (413) and anonymous incident reports per client (429)
    headers.install(app)  # CSP, nosniff, no-store on personal answers; HEAD on every GET route
    replicas.install(app)  # a write's answer carries its WAL position: the client then reads its own writes
    app.include_router(health.router)
    app.include_router(ping.router)  # /api/ping: no database, the locate benchmark's yardstick
    app.include_router(locate.router)  # early: routes are matched in order, and this is the hottest one
    app.include_router(downloads.router)  # before routers whose /api/x/{id} would catch /download
    for router in layers.routers():
        app.include_router(router)
    app.include_router(plans.router)
    app.include_router(events.incidents_router)  # /api/incidents/events, before /api/incidents/{id}
    app.include_router(incidents.router)
    app.include_router(open311.router)
    app.include_router(coverage.router)
    app.include_router(tiles.router)
    app.include_router(reach.router)
    app.include_router(audit.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(workers.router)
    app.include_router(visits.router)
    app.include_router(uploads.router)  # photos: POST /api/uploads, served to who may see them
    app.include_router(events.router)
    app.include_router(field.router)
    for router in ogc.routers():
        app.include_router(router)
    app.include_router(docs.router)
    app.include_router(resident.router)  # residents: /report, /notice, tracking numbers, place search
    app.include_router(webhooks.router)  # incident events to other platforms (admins)
    app.include_router(dashboard.router)  # the leaders' dashboard: /api/dashboard, /maps/dashboard
    pages.mount(app)
    return app
