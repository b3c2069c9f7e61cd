"""Photos (issue 16): POST /api/uploads checks images by content, strips their location, stores them 0600 under the
platform's home with a thumbnail, limits uploaders; incidents, transitions and visits attach them; GET serves them
only to the uploader and to whoever may see what they are attached to — 404 for everyone else, the public first.

Every test stores files under its own temporary home (the app's settings are copied with `home` there)."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gis.incidents.uploads import THUMBNAIL_PX
from gis.settings import Settings
from tests.conftest import GridmapClient, client_for

GPS = 0x8825  # the EXIF tag of the GPS IFD
ORIENTATION = 0x0112


def image_bytes(kind: str = "JPEG", size: tuple[int, int] = (800, 600), exif: Image.Exif | None = None) -> bytes:
    """A photo-like image (a gradient, so encoders cannot shrink it to nothing) in `kind`."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.putpixel((0, 0), (255, 0, 0))
    out = io.BytesIO()
    params: dict[str, Any] = {"exif": exif} if exif is not None else {}
    image.save(out, kind, **params)
    assert image.size == (width, height)
    return out.getvalue()


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS).update({1: "N", 2: (29.0, 52.0, 12.0), 3: "E", 4: (121.0, 33.0, 0.0)})
    return exif


def post_image(client: TestClient, data: bytes, headers: dict[str, str] | None = None, name: str = "photo.jpg") -> Any:
    return client.post("/api/uploads", files={"file": (name, data, "application/octet-stream")}, headers=headers or {})


def stored_files(home: Path) -> list[Path]:
    root = home / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _client(
    demo_engine: Engine, settings: Settings, demo_session: Session, home: Path, **changes: Any
) -> Iterator[GridmapClient]:
    copy = settings.model_copy(update={"home": home, "uploads_dir": None, **changes})
    with client_for(demo_engine, copy, demo_session) as client:
        yield client


@pytest.fixture
def photos(demo_engine: Engine, settings: Settings, demo_session: Session, home: Path) -> Iterator[GridmapClient]:
    """The demo district's app (signed in as an admin) storing uploads under `home`."""
    yield from _client(demo_engine, settings, demo_session, home)


@dataclass(frozen=True)
class Grids:
    own: str  # the code of the grid the incident lies in
    lon: float
    lat: float
    worker: dict[str, str]  # headers of the grid worker of that grid
    stranger: dict[str, str]  # headers of the grid worker of another grid


@pytest.fixture
def grids(photos: GridmapClient, demo_session: Session) -> Grids:
    rows = demo_session.execute(
        text("""SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
                FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
                ORDER BY g.code LIMIT 2""")
    ).all()
    return Grids(
        own=rows[0].code,
        lon=rows[0].lon,
        lat=rows[0].lat,
        worker=photos.as_role("grid_worker", "photo-worker", grids=(rows[0].code,)),
        stranger=photos.as_role("grid_worker", "photo-stranger", grids=(rows[1].code,)),
    )


def another_public(client: GridmapClient) -> TestClient:
    """The public from another address than the test client's own anonymous one."""
    return TestClient(client.app, raise_server_exceptions=False, client=("203.0.113.7", 40000))


# -- uploading ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_jpeg_png_and_webp_are_stored_with_a_thumbnail(
    photos: GridmapClient, home: Path, kind: str, content_type: str
) -> None:
    sent = image_bytes(kind, (800, 600))
    answer = post_image(photos, sent, name="whatever.bin")  # the name and declared type count for nothing
    assert answer.status_code == 201, answer.text
    body = answer.json()
    upload_id = body["id"]
    assert body == {
        "id": upload_id,
        "content_type": content_type,
        "bytes": body["bytes"],
        "width": 800,
        "height": 600,
        "url": f"/api/uploads/{upload_id}",
        "thumbnail": f"/api/uploads/{upload_id}/thumbnail",
    }
    assert len(upload_id) >= 20 and answer.headers["location"] == body["url"]

    files = stored_files(home)
    assert len(files) == 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for folder in (path.parent, path.parent.parent, home / "uploads"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert files[0].parent.relative_to(home / "uploads").parts[0].isdigit()  # uploads/<yyyy>/<mm>/

    image = photos.get(body["url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == content_type
    assert image.headers["cache-control"] == "private, no-store"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert len(image.content) == body["bytes"]
    assert Image.open(io.BytesIO(image.content)).format == kind
    thumb = photos.get(body["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == content_type
    shown = Image.open(io.BytesIO(thumb.content))
    assert shown.format == kind and max(shown.size) == THUMBNAIL_PX and shown.size == (320, 240)
    assert photos.head(body["url"]).status_code == 200


def test_location_metadata_is_stripped_and_the_photo_turned_upright(photos: GridmapClient, home: Path) -> None:
    sent = image_bytes("JPEG", (400, 300), exif=gps_exif(orientation=6))  # 6: shown turned 90° clockwise
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(GPS)  # the test image does carry a position
    answer = post_image(photos, sent)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["width"], answer.json()["height"]) == (300, 400)
    for path in stored_files(home):
        data = path.read_bytes()
        stored = Image.open(io.BytesIO(data))
        assert not stored.getexif() and not stored.getexif().get_ifd(GPS)
        assert b"Exif" not in data and b"PhoneMaker" not in data
        assert stored.height > stored.width


def test_a_text_file_named_jpg_is_refused(photos: GridmapClient, home: Path, demo_session: Session) -> None:
    answer = post_image(photos, b"not a photo at all\n" * 50, name="photo.jpg")
    assert answer.status_code == 415, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["where"] == "file" and answer.json()["detail"].startswith("file:")
    chinese = post_image(photos, b"GIF89a" + b"\0" * 100, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert chinese.status_code == 415 and "请上传" in chinese.json()["detail"]
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    assert post_image(photos, gif.getvalue()).status_code == 415  # a real image, but not a type taken
    truncated = image_bytes("PNG")[:300]
    assert post_image(photos, truncated).status_code == 415
    assert stored_files(home) == []
    assert demo_session.execute(text("SELECT count(*) FROM uploads")).scalar_one() == 0


def test_an_oversized_file_is_refused_and_nothing_is_kept(
    demo_engine: Engine, settings: Settings, demo_session: Session, home: Path
) -> None:
    for client in _client(demo_engine, settings, demo_session, home, upload_max_bytes=20_000):
        noise, big_png = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3)), io.BytesIO()
        noise.save(big_png, "PNG")  # noise: incompressible
        big = big_png.getvalue()
        assert len(big) > 20_000
        answer = post_image(client, big)
        assert answer.status_code == 413, answer.text
        assert answer.json()["where"] == "file" and "20000 bytes" in answer.json()["detail"]
        assert stored_files(home) == []
        assert demo_session.execute(text("SELECT count(*) FROM uploads")).scalar_one() == 0
        assert post_image(client, image_bytes("JPEG", (100, 100))).status_code == 201  # small ones still pass
    assert settings.max_body_bytes > settings.upload_max_bytes  # the body cap never answers first


def test_the_public_is_limited_per_address(
    demo_engine: Engine, settings: Settings, demo_session: Session, home: Path
) -> None:
    for client in _client(demo_engine, settings, demo_session, home, anonymous_uploads_per_minute=2):
        public = client.anonymous
        for _ in range(2):
            assert post_image(public, image_bytes("JPEG", (50, 50))).status_code == 201
        refused = post_image(public, image_bytes("JPEG", (50, 50)))
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60 and refused.json()["where"] == "file"
        assert len(stored_files(home)) == 4  # two photos, two thumbnails
        # Another address, and a signed-in account, have limits of their own.
        assert post_image(another_public(client), image_bytes("JPEG", (50, 50))).status_code == 201
        assert post_image(client, image_bytes("JPEG", (50, 50))).status_code == 201


def test_accounts_are_limited_per_day(
    demo_engine: Engine, settings: Settings, demo_session: Session, home: Path
) -> None:
    for client in _client(demo_engine, settings, demo_session, home, uploads_per_user_per_day=1):
        assert post_image(client, image_bytes("JPEG", (50, 50))).status_code == 201
        refused = post_image(client, image_bytes("JPEG", (50, 50)))
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 3600


def test_uploads_are_audited(photos: GridmapClient, demo_session: Session) -> None:
    upload_id = post_image(photos, image_bytes()).json()["id"]
    entry = demo_session.execute(
        text("SELECT actor, after FROM audit_log WHERE action = 'upload.create' AND target = :t"),
        {"t": f"upload:{upload_id}"},
    ).one()
    assert entry.actor == "test-admin" and entry.after["content_type"] == "image/jpeg"


# -- attaching and seeing ----------------------------------------------------------------------------------------


def report(client: TestClient, grids: Grids, photos: list[str], headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/api/incidents",
        json={"category": "dispute", "location": {"lon": grids.lon, "lat": grids.lat}, "photos": photos},
        headers=headers or {},
    )


def test_an_anonymous_report_attaches_its_photo_seen_only_by_those_who_see_the_incident(
    photos: GridmapClient, grids: Grids, demo_session: Session
) -> None:
    public = photos.anonymous
    upload_id = post_image(public, image_bytes()).json()["id"]
    reported = report(public, grids, [upload_id])
    assert reported.status_code == 201, reported.text
    assert "photos" not in reported.json() and upload_id not in reported.text  # the public answer
    incident = reported.json()["id"]
    url = f"/api/uploads/{upload_id}"

    # Dispatchers, admins and the incident's grid worker see the photo in the detail, and may fetch it.
    for headers in (photos.as_role("dispatcher"), {}, grids.worker):
        detail = photos.get(f"/api/incidents/{incident}", headers=headers).json()
        assert [(p["id"], p["url"], p["kind"]) for p in detail["photos"]] == [(upload_id, url, "report")]
        assert detail["photos"][0]["thumbnail"] == f"{url}/thumbnail" and detail["photos"][0]["at"]
        assert photos.get(url, headers=headers).status_code == 200
    # A grid worker of another grid, viewers, planners and the public: no photos, and 404 for the file.
    for headers in (grids.stranger, photos.as_role("viewer"), photos.as_role("planner")):
        assert "photos" not in photos.get(f"/api/incidents/{incident}", headers=headers).json()
        for path in (url, f"{url}/thumbnail"):
            missing = photos.get(path, headers=headers)
            assert missing.status_code == 404, (headers, missing.text)
            assert missing.json()["detail"] == f"upload {upload_id} does not exist"
    stranger = another_public(photos)
    assert "photos" not in stranger.get(f"/api/incidents/{incident}").json()
    assert stranger.get(url).status_code == 404 and stranger.head(url).status_code == 404
    # Its uploader (the same address) still sees what it sent.
    assert public.get(url).status_code == 200
    assert (
        demo_session.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'upload.attach' AND target = :t"),
            {"t": f"incident:{incident}"},
        ).scalar_one()
        == 1
    )


def test_photos_that_are_not_the_reporters_own_or_already_used_are_refused(photos: GridmapClient, grids: Grids) -> None:
    staff_upload = post_image(photos, image_bytes(), headers=grids.worker).json()["id"]
    other_address = post_image(another_public(photos), image_bytes()).json()["id"]
    own = post_image(photos.anonymous, image_bytes()).json()["id"]
    for ids in ([staff_upload], [other_address], ["no-such-upload"], [own, own], [own] * 6):
        refused = report(photos.anonymous, grids, ids)
        assert refused.status_code == 422, (ids, refused.text)
        assert "photos" in refused.text
    assert report(photos.anonymous, grids, [own]).status_code == 201
    again = report(photos.anonymous, grids, [own])
    assert again.status_code == 422 and "already attached" in again.json()["detail"]
    # The worker attaches its own upload to its own report.
    assert report(photos, grids, [staff_upload], headers=grids.worker).status_code == 201


def test_a_transition_attaches_photos_with_its_note(photos: GridmapClient, grids: Grids) -> None:
    incident = report(photos.anonymous, grids, []).json()["id"]
    dispatcher = photos.as_role("dispatcher")
    for action, headers in (("register", dispatcher), ("dispatch", dispatcher), ("start", grids.worker)):
        moved = photos.post(f"/api/incidents/{incident}/transitions", json={"action": action}, headers=headers)
        assert moved.status_code == 200, moved.text
    before, after = (post_image(photos, image_bytes(), headers=grids.worker).json()["id"] for _ in range(2))
    resolved = photos.post(
        f"/api/incidents/{incident}/transitions",
        json={"action": "resolve", "note": "已清理", "photos": [before, after]},
        headers=grids.worker,
    )
    assert resolved.status_code == 200, resolved.text
    assert sorted((p["id"], p["kind"]) for p in resolved.json()["photos"]) == sorted(
        [(before, "resolve"), (after, "resolve")]
    )
    note = post_image(photos, image_bytes(), headers=dispatcher).json()["id"]
    verified = photos.post(
        f"/api/incidents/{incident}/transitions", json={"action": "verify", "photos": [note]}, headers=dispatcher
    )
    assert verified.status_code == 200 and verified.json()["photos"][-1]["kind"] == "note"
    assert photos.get(f"/api/uploads/{before}", headers=dispatcher).status_code == 200


@pytest.fixture
def building(demo_session: Session, grids: Grids) -> int:
    return demo_session.execute(
        text("""SELECT b.id FROM buildings b JOIN assignments a ON a.unit_id = b.unit_id
                JOIN grid_plans p ON p.id = a.plan_id AND p.status = 'published'
                JOIN grids g ON g.id = a.grid_id AND g.code = :code ORDER BY b.id LIMIT 1"""),
        {"code": grids.own},
    ).scalar_one()


def test_a_visit_attaches_photos_seen_by_planners_and_its_worker(
    photos: GridmapClient, grids: Grids, building: int
) -> None:
    upload_id = post_image(photos, image_bytes(), headers=grids.worker).json()["id"]
    made = photos.post(
        f"/api/buildings/{building}/visits", json={"households": 3, "photos": [upload_id]}, headers=grids.worker
    )
    assert made.status_code == 201, made.text
    url = f"/api/uploads/{upload_id}"
    assert made.json()["photos"] == [{"id": upload_id, "url": url, "thumbnail": f"{url}/thumbnail"}]
    listed = photos.get("/api/visits", headers=photos.as_role("planner")).json()["visits"]
    assert [v["photos"][0]["id"] for v in listed if v["id"] == made.json()["id"]] == [upload_id]
    for headers, status in (
        (grids.worker, 200),
        (photos.as_role("planner"), 200),
        ({}, 200),
        (grids.stranger, 404),
        (photos.as_role("dispatcher"), 404),
        (photos.as_role("viewer"), 404),
    ):
        assert photos.get(url, headers=headers).status_code == status, headers
    assert photos.anonymous.get(url).status_code == 404
    # Used once: the same upload cannot go to an incident as well.
    assert report(photos, grids, [upload_id], headers=grids.worker).status_code == 422
