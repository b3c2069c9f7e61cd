"""The root of every absolute link the API writes (OGC links, Open311 discovery, download links).

Behind a reverse proxy the request's own base URL is whatever the client put in its Host header: with
GRIDMAP_PUBLIC_BASE_URL set, links start with that instead, so a forged Host never reaches a document.
"""

from __future__ import annotations

from fastapi import Request


def public_root(request: Request) -> str:
    """`https://host[/prefix]` without a trailing slash: the configured public base URL, else the request's."""
    configured = request.app.state.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")
