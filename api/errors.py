"""Every error leaves the server as RFC 9457 problem+json: what is wrong and where. No stack traces."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gis.errors import GridmapError

log = logging.getLogger("gridmap.api")
PROBLEM = "application/problem+json"


def problem(request: Request, status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    slug = title.lower().replace(" ", "-")
    body = {
        "type": f"urn:gridmap:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _where(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


async def _domain(request: Request, exc: GridmapError) -> JSONResponse:
    extra = {"where": exc.where} if exc.where else {}
    return problem(request, exc.status, exc.title, exc.detail, **extra)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"where": _where(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
    detail = "; ".join(f"{e['where']}: {e['message']}" for e in errors)
    return problem(request, 422, "Invalid input", detail, errors=errors)


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    title = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}.get(
        exc.status_code, "HTTP error"
    )
    response = problem(request, exc.status_code, title, str(exc.detail))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(request, 500, "Internal error", "the server failed to handle this request; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(GridmapError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
