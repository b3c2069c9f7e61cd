"""Photos over HTTP: the answer to an upload, and a photo as incidents and visits list it (staff only)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, computed_field

from api.schemas.common import Timestamp
from gis.incidents.uploads import MAX_PHOTOS

UploadId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# What a report, a transition or a visit attaches: ids from POST /api/uploads, made by the same client.
PhotoIds = Annotated[
    list[UploadId] | None,
    Field(
        default=None,
        max_length=MAX_PHOTOS,
        description=f"up to {MAX_PHOTOS} upload ids from POST /api/uploads, uploaded by the same client, "
        "attached to nothing yet",
    ),
]


def upload_url(upload_id: str) -> str:
    return f"/api/uploads/{upload_id}"


class _Links(BaseModel):
    id: str

    @computed_field(description="the image: for its uploader and whoever may see what it is attached to")
    def url(self) -> str:
        return upload_url(self.id)

    @computed_field(description="a copy at most 320 px a side, same access")
    def thumbnail(self) -> str:
        return f"{upload_url(self.id)}/thumbnail"


class Uploaded(_Links):
    """A stored upload: the image as re-encoded (no metadata), its size in pixels."""

    content_type: Literal["image/jpeg", "image/png", "image/webp"]
    bytes: int
    width: int
    height: int


class IncidentPhoto(_Links):
    kind: Literal["report", "note", "resolve", "return"] = Field(description="the step it came with")
    at: Timestamp


class VisitPhoto(_Links):
    pass
