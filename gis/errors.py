"""Domain errors. Each carries the HTTP status it maps to, so api/ maps them in one place."""

from __future__ import annotations


class GridmapError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, where: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.where = where


class Unauthorized(GridmapError):
    """No credentials, or credentials that are not (or no longer) valid: sign in again."""

    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str, *, where: str | None = None, invalid_token: bool = False) -> None:
        super().__init__(detail, where=where)
        self.invalid_token = invalid_token  # a token was sent but refused (RFC 6750 error="invalid_token")


class Forbidden(GridmapError):
    """Signed in, but this role may not do this."""

    status = 403
    title = "Forbidden"


class NotFound(GridmapError):
    status = 404
    title = "Not found"


class InvalidInput(GridmapError):
    status = 422
    title = "Invalid input"


class FileRejected(InvalidInput):
    """A whole input file is refused (unreadable, no CRS, swapped axes, ...)."""

    title = "File rejected"


class Conflict(GridmapError):
    status = 409
    title = "Conflict"


class DatabaseUnavailable(GridmapError):
    status = 503
    title = "Database unavailable"


class PreconditionFailed(GridmapError):
    """A write based on a stale version (If-Match does not match): nothing was changed."""

    status = 412
    title = "Precondition failed"


class PreconditionRequired(GridmapError):
    status = 428
    title = "Precondition required"


class BadParameter(GridmapError):
    """A query parameter that is unknown or malformed (OGC API answers these with 400)."""

    status = 400
    title = "Bad parameter"
