"""Photos: uploads checked by content, stripped of metadata, stored under the platform's home, attached to
incidents and field visits, and shown only to whoever may see what they are attached to.

An upload is accepted only when Pillow reads it as a JPEG, PNG or WebP image of at most `MAX_PIXELS` pixels (the
name and declared type of the file count for nothing). It is re-encoded: the pixels (turned upright by their EXIF
orientation) are kept, every piece of metadata — EXIF with its GPS position, XMP, text chunks — is dropped, since a
phone's photo carries where it was taken. A thumbnail of at most `THUMBNAIL_PX` pixels a side goes beside it. Files
are written 0600 in 0700 directories `<home>/uploads/<yyyy>/<mm>/`, named by the upload's random id.

Each upload remembers its client scope (sha256 of "user:<id>" or "address:<ip>", the scope of incident reports'
idempotency keys): only the same client attaches it, and only once, to one incident or visit. It is served to its
uploader, and to those who may see the incident (gis/incidents/privacy.py: staff or dispatch audience) or the visit
it belongs to; to everyone else it does not exist (404).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import audit
from gis.auth.users import Principal
from gis.errors import GridmapError, InvalidInput, NotFound
from gis.incidents import privacy
from gis.settings import Settings

# Pillow's format → (content type, file extension): the only images taken.
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
# Larger than any phone camera's photo (a 200 MP sensor bins to 50 MP); a small file decoding to more pixels
# is a decompression bomb, refused before its pixels are decoded.
MAX_PIXELS = 60_000_000
THUMBNAIL_PX = 320
MAX_PHOTOS = 5  # per report, transition note or visit
UPLOADS_DIR = "uploads"
# The kind of incident step a photo comes with: a transition's own action when it has one here, else a note.
PHOTO_KINDS = ("report", "note", "resolve", "return")
JPEG_QUALITY = 88


class UploadRefused(GridmapError):
    """A file refused before anything is stored: 413 (too large), 415 (not an image taken) or 429 (too many
    uploads, with `retry_after` seconds). `detail_zh` says it in Chinese for clients that ask for it."""

    def __init__(self, status: int, title: str, detail: str, detail_zh: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail, where="file")
        self.status = status
        self.title = title
        self.detail_zh = detail_zh
        self.retry_after = retry_after


def _not_an_image(reason: str, reason_zh: str) -> UploadRefused:
    return UploadRefused(
        415,
        "Unsupported media type",
        f"file: {reason}; send a JPEG, PNG or WebP photo",
        f"file：{reason_zh}；请上传 JPEG、PNG 或 WebP 照片",
    )


@dataclass(frozen=True)
class Uploader:
    """Who uploads: the account (None for the public), its client scope and the name the audit trail records."""

    user_id: int | None
    client: str  # "user:<id>" or "address:<ip>" (api.routers.incidents.client_scope)
    actor: str

    @property
    def client_hash(self) -> str:
        return client_hash(self.client)


def client_hash(client: str) -> str:
    return hashlib.sha256(client.encode()).hexdigest()


@dataclass(frozen=True)
class CleanImage:
    """An accepted image, re-encoded without metadata, and its thumbnail."""

    format: str  # a key of FORMATS
    data: bytes
    thumbnail: bytes
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][0]


def read_capped(stream: IO[bytes], limit: int) -> bytes:
    """The stream's bytes, or 413 naming `file` as soon as it holds more than `limit`."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UploadRefused(
            413,
            "Content too large",
            f"file: larger than the limit of {limit} bytes (GRIDMAP_UPLOAD_MAX_BYTES)",
            f"file：文件超过 {limit} 字节的上限",
        )
    return data


def clean_image(data: bytes) -> CleanImage:
    """`data` checked by content and re-encoded in its own format without any metadata, turned upright."""
    from PIL import Image, ImageOps  # imported here: the CLI and most requests never touch images

    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            if kind not in FORMATS:
                raise _not_an_image(f"a {kind} image is not taken", f"不接受 {kind} 格式的图片")
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise UploadRefused(
                    413,
                    "Content too large",
                    f"file: {width}×{height} pixels, more than the limit of {MAX_PIXELS}",
                    f"file：图片像素 {width}×{height} 超过 {MAX_PIXELS} 的上限",
                )
            probe.verify()  # checksums and structure; the image must be opened again to decode it
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            upright = ImageOps.exif_transpose(opened)
    except UploadRefused:
        raise
    except Exception:  # Pillow's decoders raise many kinds of error on malformed input
        raise _not_an_image("not a readable image", "无法识别为图片") from None
    # Nothing of the source's info travels on (EXIF, XMP, comments, text chunks); a palette's transparency is
    # part of the pixels.
    upright.info = {k: v for k, v in upright.info.items() if k == "transparency"}
    thumb = upright.copy()
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    return CleanImage(
        format=kind,
        data=_encode(upright, kind),
        thumbnail=_encode(thumb, kind),
        width=upright.width,
        height=upright.height,
    )


def _encode(image: Any, kind: str) -> bytes:
    out = io.BytesIO()
    if kind == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY)
    elif kind == "WEBP":
        image.save(out, "WEBP", quality=JPEG_QUALITY)
    else:
        image.save(out, "PNG")
    return out.getvalue()


# -- limits ---------------------------------------------------------------------------------------------------


# The most recent uploads of an account or of an anonymous client within the window (at most :limit of them):
# how many, and in how many seconds the oldest of them leaves the window.
_RECENT = """SELECT count(*) AS n,
                    EXTRACT(EPOCH FROM min(created_at) + make_interval(secs => :window) - now()) AS wait
             FROM (SELECT created_at FROM uploads WHERE {owner} AND created_at > now() - make_interval(secs => :window)
                   ORDER BY created_at DESC LIMIT :limit) recent"""
_RECENT_BY_ACCOUNT = text(_RECENT.format(owner="owner_id = :user"))
_RECENT_BY_CLIENT = text(_RECENT.format(owner="owner_id IS NULL AND client_hash = :client"))


def check_limits(session: Session, settings: Settings, uploader: Uploader) -> None:
    """429 (with the seconds until one more is allowed) when the uploader has reached its limit: stored uploads per
    account and day, or per anonymous client and minute. Counted in the database, so every server process agrees;
    the transaction-scoped lock makes concurrent uploads of one client count one after the other."""
    if uploader.user_id is not None:
        limit, window, recent = settings.uploads_per_user_per_day, 86_400, _RECENT_BY_ACCOUNT
        what, what_zh = "a day by this account", "每个账号每天"
    else:
        limit, window, recent = settings.anonymous_uploads_per_minute, 60, _RECENT_BY_CLIENT
        what, what_zh = "a minute from this address", "每个地址每分钟"
    if limit == 0:
        return
    params = {"user": uploader.user_id, "client": uploader.client_hash, "window": window, "limit": limit}
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:client))"), params)
    counted = session.execute(recent, params).one()
    if counted.n >= limit:
        wait = max(1, math.ceil(float(counted.wait or 1)))
        raise UploadRefused(
            429,
            "Too many requests",
            f"file: more than {limit} uploads {what}; retry in {wait} s",
            f"file：上传次数超过{what_zh} {limit} 次的上限，请 {wait} 秒后再试",
            retry_after=wait,
        )


# -- storing --------------------------------------------------------------------------------------------------


def store(session: Session, settings: Settings, uploader: Uploader, stream: IO[bytes]) -> dict[str, Any]:
    """Check, clean and store one uploaded file with its row (and audit entry); returns the upload's row.

    Refusals (UploadRefused) come before anything is written. If the row cannot be written, the files are
    removed again."""
    check_limits(session, settings, uploader)
    image = clean_image(read_capped(stream, settings.upload_max_bytes))
    upload_id = secrets.token_urlsafe(16)
    extension = FORMATS[image.format][1]
    now = datetime.now(UTC)
    folder = _folder(uploads_root(settings), f"{now:%Y}", f"{now:%m}")
    path = folder / f"{upload_id}.{extension}"
    thumbnail = folder / f"{upload_id}.thumb.{extension}"
    written: list[Path] = []
    try:
        for target, content in ((path, image.data), (thumbnail, image.thumbnail)):
            _write_private(target, content)
            written.append(target)
        row = {
            "id": upload_id,
            "owner_id": uploader.user_id,
            "client_hash": uploader.client_hash,
            "content_type": image.content_type,
            "bytes": len(image.data),
            "width": image.width,
            "height": image.height,
            "sha256": hashlib.sha256(image.data).hexdigest(),
            "path": path.relative_to(uploads_root(settings)).as_posix(),
            "thumbnail_path": thumbnail.relative_to(uploads_root(settings)).as_posix(),
        }
        session.execute(
            text("""INSERT INTO uploads (id, owner_id, client_hash, content_type, bytes, width, height, sha256, path,
                                         thumbnail_path)
                    VALUES (:id, :owner_id, :client_hash, :content_type, :bytes, :width, :height, :sha256, :path,
                            :thumbnail_path)"""),
            row,
        )
        audit.record(
            session,
            actor=uploader.actor,
            action="upload.create",
            target=f"upload:{upload_id}",
            after={k: row[k] for k in ("content_type", "bytes", "width", "height", "sha256")},
        )
    except BaseException:
        for done in written:
            done.unlink(missing_ok=True)
        raise
    return row


def uploads_root(settings: Settings) -> Path:
    """Where photos live: `settings.uploads_dir`, else `<home>/uploads`. Rows keep paths relative to it."""
    return settings.uploads_dir or settings.home / UPLOADS_DIR


def _folder(root: Path, *parts: str) -> Path:
    """`<root>/<parts…>`, every directory created 0700 (photos are personal data)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root
    for part in parts:
        folder = folder / part
        folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _write_private(path: Path, content: bytes) -> None:
    # O_EXCL: an id is never reused, so an existing file is a bug, never something to overwrite.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content)


# -- attaching ------------------------------------------------------------------------------------------------


def _claim(session: Session, upload_ids: Sequence[str], client: str) -> list[str]:
    """The ids, once each is checked: an upload of this client (`client` scope), attached to nothing yet. Their
    rows stay locked until the transaction ends, so two requests never attach one upload twice. 422 naming
    `photos` otherwise; another client's upload is "unknown", as if it did not exist."""
    ids = list(upload_ids)
    if len(ids) > MAX_PHOTOS:
        raise InvalidInput(f"photos: at most {MAX_PHOTOS} photos, not {len(ids)}", where="photos")
    if len(set(ids)) != len(ids):
        raise InvalidInput("photos: an upload is listed twice", where="photos")
    mine = set(
        session.execute(
            text("SELECT id FROM uploads WHERE id = ANY(:ids) AND client_hash = :client ORDER BY id FOR UPDATE"),
            {"ids": ids, "client": client_hash(client)},
        ).scalars()
    )
    unknown = [i for i in ids if i not in mine]
    if unknown:
        raise InvalidInput(
            f"photos: unknown upload {unknown[0]!r} (upload it first with POST /api/uploads, from this client)",
            where="photos",
        )
    taken = session.execute(
        text("""SELECT upload_id FROM incident_photos WHERE upload_id = ANY(:ids)
                UNION ALL SELECT upload_id FROM visit_photos WHERE upload_id = ANY(:ids) LIMIT 1"""),
        {"ids": ids},
    ).scalar_one_or_none()
    if taken is not None:
        raise InvalidInput(f"photos: upload {taken!r} is already attached", where="photos")
    return ids


def kind_of_action(action: str) -> str:
    """The photo kind of a transition: resolve and return have their own, every other step is a note."""
    return action if action in PHOTO_KINDS else "note"


def attach_to_incident(
    session: Session, incident_id: int, upload_ids: Sequence[str] | None, *, kind: str, client: str, actor: str
) -> None:
    """Attach the client's uploads to the incident as photos of one step (`kind`), audited."""
    if not upload_ids:
        return
    ids = _claim(session, upload_ids, client)
    session.execute(
        # clock_timestamp, not the transaction's now(): photos of several steps in one transaction keep their order.
        text("""INSERT INTO incident_photos (incident_id, upload_id, kind, added_by, added_at)
                SELECT :incident, id, :kind, :actor, clock_timestamp() FROM unnest(CAST(:ids AS text[])) AS id"""),
        {"incident": incident_id, "ids": ids, "kind": kind, "actor": actor},
    )
    audit.record(
        session,
        actor=actor,
        action="upload.attach",
        target=f"incident:{incident_id}",
        after={"uploads": ids, "kind": kind},
    )


def attach_to_visit(
    session: Session, visit_id: int, upload_ids: Sequence[str] | None, *, client: str, actor: str
) -> None:
    """Attach the client's uploads to a field visit, audited."""
    if not upload_ids:
        return
    ids = _claim(session, upload_ids, client)
    session.execute(
        text("""INSERT INTO visit_photos (visit_id, upload_id)
                SELECT :visit, id FROM unnest(CAST(:ids AS text[])) AS id"""),
        {"visit": visit_id, "ids": ids},
    )
    audit.record(session, actor=actor, action="upload.attach", target=f"visit:{visit_id}", after={"uploads": ids})


def incident_photos(session: Session, incident_id: int) -> list[dict[str, Any]]:
    """The incident's photos, oldest first: id, kind and when attached."""
    rows = session.execute(
        text("""SELECT upload_id AS id, kind, added_at AS at FROM incident_photos WHERE incident_id = :id
                ORDER BY added_at, upload_id"""),
        {"id": incident_id},
    ).mappings()
    return [dict(r) | {"at": r["at"].isoformat()} for r in rows]


def visit_photos(session: Session, visit_ids: Sequence[int]) -> dict[int, list[str]]:
    """Upload ids by visit, for a page of visits (one query)."""
    found: dict[int, list[str]] = {}
    if not visit_ids:
        return found
    for row in session.execute(
        text("SELECT visit_id, upload_id FROM visit_photos WHERE visit_id = ANY(:ids) ORDER BY upload_id"),
        {"ids": list(visit_ids)},
    ):
        found.setdefault(row.visit_id, []).append(row.upload_id)
    return found


# -- serving --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    path: Path
    content_type: str


def readable(
    session: Session,
    settings: Settings,
    upload_id: str,
    who: Principal,
    client: str,
    *,
    thumbnail: bool = False,
    may_read_visit: Callable[[int], bool],
) -> StoredFile:
    """The file of an upload (or its thumbnail) when `who` (from `client`) may see it: its uploader, or whoever
    may see the incident (staff or dispatch audience) or the visit (`may_read_visit`, the visit's own rule) it is
    attached to. NotFound for everyone else, the same answer as for an id that does not exist."""
    row = session.execute(
        text("""SELECT u.client_hash, u.content_type, u.path, u.thumbnail_path, ip.incident_id, vp.visit_id
                FROM uploads u LEFT JOIN incident_photos ip ON ip.upload_id = u.id
                LEFT JOIN visit_photos vp ON vp.upload_id = u.id
                WHERE u.id = :id"""),
        {"id": upload_id},
    ).first()
    allowed = row is not None and (
        secrets.compare_digest(row.client_hash, client_hash(client))
        or (
            row.incident_id is not None
            and privacy.audience_of(session, who, row.incident_id) is not privacy.Audience.PUBLIC
        )
        or (row.visit_id is not None and may_read_visit(row.visit_id))
    )
    if row is None or not allowed:
        raise NotFound(f"upload {upload_id} does not exist", where="id")
    relative = row.thumbnail_path if thumbnail else row.path
    root = uploads_root(settings).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        # The row outlived its file (a home restored without its uploads): nothing to serve.
        raise NotFound(f"upload {upload_id} does not exist", where="id")
    return StoredFile(path=path, content_type=row.content_type)
