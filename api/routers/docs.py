"""/docs (Swagger UI) and /redoc: the API documentation, with every script, stylesheet and icon from the app.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and ReDoc's fonts from Google, which a closed network
cannot reach. These load the copies installed from npm at setup (maps/web: swagger-ui-dist, redoc) and served
under /static/vendor (api/routers/pages.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from api.headers import allow, csp_nonce, nonced
from maps.assets import STATIC_URL

router = APIRouter(include_in_schema=False)

SWAGGER = f"{STATIC_URL}/vendor/swagger-ui"
REDOC = f"{STATIC_URL}/vendor/redoc"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def _page(request: Request, page: HTMLResponse) -> HTMLResponse:
    # Both libraries style their components with <style> elements they write at run time (React, styled-
    # components), which no nonce reaches: these pages, showing only the API's own description, allow them.
    allow(request, "style-src", "'unsafe-inline'")
    return HTMLResponse(nonced(bytes(page.body).decode(), csp_nonce(request)))


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} · API (Swagger UI)",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        oauth2_redirect_url=OAUTH2_REDIRECT,
        # No badge from the public validator service: the spec is checked by the tests, not by a third party.
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _page(request, page)


@router.get(OAUTH2_REDIRECT)
def swagger_ui_redirect(request: Request) -> HTMLResponse:
    return _page(request, get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} · API (ReDoc)",
        redoc_js_url=f"{REDOC}/redoc.standalone.js",
        redoc_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        with_google_fonts=False,
    )
    # ReDoc's search runs in a web worker it builds from a blob: URL.
    allow(request, "worker-src", "blob:")
    return _page(request, page)
