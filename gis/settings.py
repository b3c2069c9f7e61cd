"""One typed configuration object, read from GRIDMAP_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    # When unset, the embedded cluster under `home` is provisioned and used (gis.db.cluster).
    database_url: str | None = None
    home: Path = Field(default=PROJECT_ROOT / ".gridmap", description="state directory of the embedded cluster")
    pg_port: int = 55432
    database_name: str = "gridmap"

    # Households estimated from footprint area × floors ÷ dwelling size when a source lacks them.
    dwelling_size_m2: float = 90.0
    storey_height_m: float = 3.0

    # Locating: a point outside every grid snaps to the nearest one within this distance.
    locate_snap_m: float = 50.0

    # Duplicate suggestion: open incidents of the same category this close in space and time.
    duplicate_radius_m: float = 50.0
    duplicate_window_h: float = 24.0

    # Walking coverage (生活圈): snapping to the network, walking speed, catchment drawing.
    coverage_snap_m: float = 100.0
    walking_speed_mps: float = 1.2
    catchment_buffer_m: float = 25.0
    # How often each server process looks for queued coverage runs (queued by data changes, imports, other servers).
    coverage_poll_s: float = Field(default=2.0, gt=0)
    # Incident webhooks (gis/incidents/hooks.py): how often the server looks for due deliveries, how long one may
    # take, and the retry backoff (doubling from webhook_backoff_s up to webhook_backoff_max_s).
    webhook_poll_s: float = Field(default=2.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_backoff_s: float = Field(default=5.0, ge=0)
    webhook_backoff_max_s: float = Field(default=3600.0, ge=0)

    # Map pages: basemap none | osm | amap | tencent | custom (basemap_url, basemap_crs wgs84|gcj02).
    basemap: str = "none"
    basemap_url: str | None = None
    basemap_crs: str = "wgs84"

    # Read API paging.
    page_limit_default: int = 100
    page_limit_max: int = 10_000

    # Limits (api/limits.py): request bodies, vertices per incoming geometry, and anonymous incident
    # reports per client IP and minute (0 = unlimited; the window is kept per server process).
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_vertices: int = Field(default=100_000, ge=4)
    anonymous_submissions_per_minute: int = Field(default=30, ge=0)
    sign_in_attempts_per_minute: int = Field(default=10, ge=0)  # per client IP; 0 = unlimited

    # Costly requests (issue 15): points per bulk assignment or candidate list (larger jobs: the CLI), anonymous
    # catchment and reach requests per client IP and minute (0 = unlimited), the holes and parts of a geometry a
    # client sends (besides max_vertices), the statement time of a plan edit, and the public base URL that
    # absolute links start with (unset: the request's own, i.e. its Host header).
    max_points_per_request: int = Field(default=10_000, ge=1)
    anonymous_expensive_reads_per_minute: int = Field(default=60, ge=0)
    max_holes: int = Field(default=1_000, ge=0)
    max_parts: int = Field(default=100, ge=1)
    plan_edit_timeout_s: float = Field(default=30.0, gt=0)
    public_base_url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

    # Household band (issue 17): every plan has one — new drafts without a band, imported grid layers and the demo
    # get this one (GRIDMAP_HOUSEHOLD_BAND='[300, 500]'); a planner changes it per draft (PATCH /api/plans/{id}).
    household_band: tuple[int, int] = (300, 500)

    # Photos (issue 16, gis/incidents/uploads.py): the largest file `POST /api/uploads` takes (keep it below
    # max_body_bytes, which counts the whole multipart body), stored uploads per signed-in user and day, and
    # anonymous uploads per client address and minute (0 = unlimited). Files live under `home`/uploads.
    uploads_dir: Path | None = Field(default=None, description="where photos are stored; default: `home`/uploads")
    upload_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    uploads_per_user_per_day: int = Field(default=500, ge=0)
    anonymous_uploads_per_minute: int = Field(default=10, ge=0)

    # Batch jobs (issue 18, gis/batch.py): units per community, coverage per street, bulk assignment in partitions.
    # Unset scheduler: a LocalCluster of `batch_workers` processes (0: one per core; 1: no cluster, in process);
    # set: that dask.distributed scheduler (tcp://host:8786), whose workers may be other machines.
    dask_scheduler: str | None = None
    batch_workers: int = Field(default=0, ge=0)

    # Planner desk (issue 17, gis/plans/community_types.py): the band per community type, "community" (居委会) or
    # "village" (村委会), e.g. GRIDMAP_HOUSEHOLD_BAND_BY_TYPE='{"village": [160, 255]}'; a new plan gets the band of
    # the type holding most of its households, `household_band` for a type not listed.
    household_band_by_type: dict[str, tuple[int, int]] = Field(default_factory=dict)

    # Read replicas (issue 18, api/deps.py get_read_session): a PostgreSQL streaming standby of the primary serving
    # the read-only routes (maps, tiles, OGC API, locate, downloads, layer reads); unset, every read is on the primary.
    read_database_url: str | None = None

    # Vector tiles (gis/layers/tiles.py): bytes of tiles each server process keeps by data version (0: none).
    tile_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)

    # Coverage per street on a dask scheduler (gis/coverage/compute.py): each street's part holds the network within
    # this many metres of its buildings; farther nearest facilities are measured again on the whole graph.
    coverage_part_radius_m: float = Field(default=2000.0, gt=0)

    # `gridmap assign` keeps the published plan's grid index here between runs, one file per plan content
    # (gis/locate/bulk.py); unset: $XDG_CACHE_HOME/gridmap, else ~/.cache/gridmap.
    cache_dir: Path | None = None

    # Sign-in: the key signing access tokens (HS256); when unset one is generated once and kept in the
    # database's `meta` table, so every server process on that database accepts the same tokens.
    secret_key: str | None = Field(default=None, repr=False)
    token_ttl_minutes: int = Field(default=480, ge=1)
    device_token_ttl_days: int = Field(default=30, ge=1)  # a named device's sign-in (the field app on a phone)
    # `gridmap demo` creates the `admin` account with this password (generated and printed once when unset).
    admin_password: str | None = Field(default=None, repr=False)


@lru_cache
def get_settings() -> Settings:
    return Settings()
