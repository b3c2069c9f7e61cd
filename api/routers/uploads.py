"""Photos over HTTP: POST /api/uploads stores one checked, cleaned image; GET serves it (and its thumbnail) only to
its uploader and to whoever may see the incident or visit it is attached to. The rules: gis/incidents/uploads.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.errors import problem
from api.routers.incidents import client_scope
from api.schemas.uploads import Uploaded, upload_url
from gis.basedata import visits
from gis.incidents import uploads

router = APIRouter(prefix="/api/uploads", tags=["uploads"])

UploadIdPath = Annotated[str, Path(min_length=1, max_length=64, description="the id POST /api/uploads answered")]
# Photos are personal: never kept by a browser or a proxy; the content type is the one checked, never sniffed.
FILE_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


def _refused(request: Request, refused: uploads.UploadRefused) -> JSONResponse:
    """The refusal as a problem naming `file` (in Chinese for clients asking for it, by api/errors.problem)."""
    answer = problem(request, refused.status, refused.title, refused.detail, detail_zh=refused.detail_zh, where="file")
    if refused.retry_after is not None:
        answer.headers["Retry-After"] = str(refused.retry_after)
    return answer


@router.post(
    "",
    status_code=201,
    response_model=Uploaded,
    summary="upload a photo (JPEG, PNG or WebP, checked by content; location metadata removed)",
    description="Anyone may upload (the residents' report page); the public is limited per address and minute, "
    "accounts per day (429 with Retry-After). A file that is not such an image: 415; over the size limit "
    "(GRIDMAP_UPLOAD_MAX_BYTES, 8 MB by default): 413. Attach the id to a report, a transition or a visit "
    "(`photos`) from the same client.",
)
def upload(
    file: Annotated[UploadFile, File(description="the image; its name and declared type are ignored")],
    session: SessionDep,
    settings: SettingsDep,
    who: PrincipalDep,
    request: Request,
) -> Any:
    uploader = uploads.Uploader(
        user_id=who.user_id if who.authenticated else None, client=client_scope(who, request), actor=who.name
    )
    try:
        stored = uploads.store(session, settings, uploader, file.file)
    except uploads.UploadRefused as refused:
        # Answered, not raised: nothing was written, and the handler of domain errors knows no Retry-After.
        return _refused(request, refused)
    answer = Uploaded.model_validate(stored)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201, headers={"Location": upload_url(stored["id"])})


def _serve(
    upload_id: str, session: SessionDep, settings: SettingsDep, who: PrincipalDep, request: Request, *, thumbnail: bool
) -> FileResponse:
    found = uploads.readable(
        session,
        settings,
        upload_id,
        who,
        client_scope(who, request),
        thumbnail=thumbnail,
        may_read_visit=lambda visit_id: visits.may_read(session, who, visit_id),
    )
    return FileResponse(found.path, media_type=found.content_type, headers=FILE_HEADERS)


_IMAGES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}, "description": "the image"}
}


@router.get(
    "/{upload_id}",
    response_class=FileResponse,
    responses=_IMAGES,
    summary="a photo: for its uploader and whoever may see its incident or visit; 404 for anyone else",
)
def photo(
    upload_id: UploadIdPath, session: SessionDep, settings: SettingsDep, who: PrincipalDep, request: Request
) -> FileResponse:
    return _serve(upload_id, session, settings, who, request, thumbnail=False)


@router.get(
    "/{upload_id}/thumbnail",
    response_class=FileResponse,
    responses=_IMAGES,
    summary="a photo's thumbnail (at most 320 px a side), with the photo's access",
)
def photo_thumbnail(
    upload_id: UploadIdPath, session: SessionDep, settings: SettingsDep, who: PrincipalDep, request: Request
) -> FileResponse:
    return _serve(upload_id, session, settings, who, request, thumbnail=True)
