"""Every error leaves the server as RFC 9457 problem+json: what is wrong and where. No stack traces."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api import messages_zh
from api.i18n import CONTENT_LANGUAGE, request_language
from gis.errors import GridmapError, Unauthorized

log = logging.getLogger("gridmap.api")
PROBLEM = "application/problem+json"


def problem(
    request: Request, status: int, title: str, detail: str, *, detail_zh: str | None = None, **extra: Any
) -> JSONResponse:
    """A problem in the request's language (api.i18n): English as raised, or Chinese with the English kept.

    In Chinese `title` and `detail` are translated (the detail through api.messages_zh, or `detail_zh` when the
    caller has it already), `detail_en` keeps the English for logs and tools, `where` stays the API's name and
    `where_label` gives its Chinese name. `type` is the same in both languages: clients branch on it.
    """
    slug = title.lower().replace(" ", "-")
    body = {
        "type": f"urn:gridmap:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    language = request_language(request)
    if language == "zh":
        body["title"] = messages_zh.title(status, title)
        body["detail"] = detail_zh or messages_zh.translate(detail) or detail
        body["detail_en"] = detail
        label = messages_zh.field_label(extra.get("where"))
        if label:
            body["where_label"] = label
    response = JSONResponse(body, status_code=status, media_type=PROBLEM)
    response.headers["Content-Language"] = CONTENT_LANGUAGE[language]
    response.headers["Vary"] = "Accept-Language"
    return response


def _where(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


async def _domain(request: Request, exc: GridmapError) -> JSONResponse:
    extra = {"where": exc.where} if exc.where else {}
    response = problem(request, exc.status, exc.title, exc.detail, **extra)
    if isinstance(exc, Unauthorized):
        # RFC 6750: say which scheme to use, and whether the token sent was the problem.
        challenge = 'Bearer realm="gridmap"'
        if exc.invalid_token:
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
    return response


def _validation_error(error: dict[str, Any], chinese: bool = False) -> dict[str, str]:
    location = tuple(error.get("loc", ()))
    kind = str(error.get("type", ""))
    if kind == "json_invalid":
        # FastAPI puts the character position where a field name would go: say it in words instead.
        reason = (error.get("ctx") or {}).get("error", "malformed")
        position = f" at character {location[1]}" if len(location) > 1 else ""
        answer = {"where": "body", "message": f"not valid JSON{position}: {reason}"}
        if chinese:
            at = f"（第 {location[1]} 个字符处）" if len(location) > 1 else ""
            answer |= {"message": f"不是有效的 JSON{at}：{reason}", "message_en": answer["message"]}
    else:
        answer = {"where": _where(location), "message": error.get("msg", "invalid")}
        if chinese:
            message = messages_zh.validation_message(kind, error.get("ctx"), answer["message"])
            answer |= {"message": message, "message_en": answer["message"]}
    label = messages_zh.field_label(answer["where"]) if chinese else None
    return answer | {"where_label": label} if label else answer


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    chinese = request_language(request) == "zh"
    errors = [_validation_error(e, chinese) for e in exc.errors()]
    detail = "; ".join(f"{e['where']}: {e.get('message_en', e['message'])}" for e in errors)
    detail_zh = "；".join(f"{e['where']}：{e['message']}" for e in errors) if chinese else None
    return problem(request, 422, "Invalid input", detail, detail_zh=detail_zh, errors=errors)


_HTTP_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Content too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


def _http_detail(request: Request, exc: HTTPException) -> tuple[str, dict[str, Any]]:
    """Starlette's and FastAPI's own messages ("Not Found") name nothing: say what was asked for."""
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        return f"nothing at {request.url.path}", {}
    if exc.status_code == 405 and detail == "Method Not Allowed":
        # Not Starlette's Allow header: with one route per method it names only the first route's methods.
        return f"{request.method} is not allowed on {request.url.path}", {"where": "method"}
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        if isinstance(exc.__cause__, RecursionError):  # the JSON parser gives up on deep nesting
            return "body: the JSON is nested too deeply to read", {"where": "body"}
        return "body: the request body cannot be read (is it UTF-8 text in the declared Content-Type?)", {
            "where": "body"
        }
    if exc.status_code == 413:
        return detail, {"where": "body"}
    return detail, {}


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    title = _HTTP_TITLES.get(exc.status_code, "HTTP error")
    detail, extra = _http_detail(request, exc)
    response = problem(request, exc.status_code, title, detail, **extra)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(request, 500, "Internal error", "the server failed to handle this request; it has been logged")


def install(app: FastAPI) -> None:
    # The decorator form: Starlette types add_exception_handler for handlers of any Exception only.
    app.exception_handler(GridmapError)(_domain)
    app.exception_handler(RequestValidationError)(_validation)
    app.exception_handler(HTTPException)(_http)
    app.exception_handler(Exception)(_unexpected)
    _document_problems(app)


PROBLEM_SCHEMA = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what is wrong, naming the field"},
        "instance": {"type": "string"},
        "where": {"type": "string", "description": "the parameter or field at fault"},
        "detail_en": {"type": "string", "description": "the detail in English, when the answer is in Chinese"},
        "where_label": {"type": "string", "description": "the Chinese name of `where`, when the answer is in Chinese"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "where": {"type": "string"},
                    "message": {"type": "string"},
                    "message_en": {"type": "string"},
                    "where_label": {"type": "string"},
                },
            },
        },
    },
}
# Open311 routes answer their own errors in the spec's format, and FastAPI's validation errors as problems.
_OPEN311_ERRORS = {"type": "array", "items": {"type": "object", "properties": {"code": {}, "description": {}}}}


def _document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI document what every error really is: problem+json, for any 4xx and 5xx.

    FastAPI documents only its 422, as application/json with its own model; clients (and schemathesis)
    reading the document should expect what the handlers above send.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for path, item in document.get("paths", {}).items():
            for operation in item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                content: dict[str, dict[str, Any]] = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                if path.startswith("/open311/"):
                    content["application/json"] = {"schema": _OPEN311_ERRORS}
                responses = operation["responses"]
                responses.pop("422", None)
                for code in ("4XX", "5XX"):
                    responses.setdefault(code, {"description": "a problem (RFC 9457)", "content": content})
        schemas = document["components"]["schemas"]
        if "#/components/schemas/HTTPValidationError" not in json.dumps(document["paths"]):
            schemas.pop("HTTPValidationError", None)  # replaced by Problem everywhere
            schemas.pop("ValidationError", None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
