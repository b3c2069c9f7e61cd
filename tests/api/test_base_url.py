"""Absolute links (issue 15, item 14): with GRIDMAP_PUBLIC_BASE_URL set they start with it, whatever Host the
client sent; without it they follow the request, as before."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.settings import Settings
from tests.api.test_limits import limit

PUBLIC = "https://grid.example.gov.cn/gridmap"
FORGED = {"Host": "evil.example.com", "X-Forwarded-Host": "evil.example.com"}


def hrefs(document: Any) -> list[str]:
    """Every `href`, `url` or `$id` anywhere in a JSON document."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ("href", "url", "$id") and isinstance(value, str):
                found.append(value)
            else:
                found += hrefs(value)
    elif isinstance(document, list):
        for value in document:
            found += hrefs(value)
    return found


def documents(client: TestClient, session: Session) -> dict[str, Any]:
    facility = session.execute(text("SELECT min(id) FROM facilities")).scalar_one()
    urls = [
        "/ogc",
        "/ogc/collections",
        "/ogc/collections/buildings",
        "/ogc/collections/buildings/items?limit=2&offset=2",
        "/ogc/collections/grids/items/1",
        f"/ogc/collections/catchments/items/{facility}-5",
        "/ogc/collections/buildings/queryables",
        "/ogc/collections/buildings/tiles",
        "/ogc/collections/buildings/tiles/WebMercatorQuad",
        "/ogc/tileMatrixSets",
        "/open311/v2/discovery.json",
    ]
    answers = {url: client.get(url, headers=FORGED) for url in urls}
    for url, response in answers.items():
        assert response.status_code == 200, (url, response.text)
    return {url: response.json() for url, response in answers.items()}


def test_links_use_the_public_base_url_not_the_host_header(
    demo_session: Session, demo_client: TestClient, settings: Settings
) -> None:
    limit(demo_client, settings, public_base_url=PUBLIC + "/")
    for url, document in documents(demo_client, demo_session).items():
        links = [h for h in hrefs(document) if h.startswith("http")]
        assert links, url
        assert all(h.startswith(PUBLIC + "/") for h in links), (url, links)
        assert "evil" not in json.dumps(document), url
    downloads = [h for h in hrefs(demo_client.get("/ogc/collections/buildings").json()) if "download" in h]
    assert downloads and all(h.startswith(f"{PUBLIC}/api/buildings/download?format=") for h in downloads)


def test_without_a_public_base_url_links_follow_the_request(demo_session: Session, demo_client: TestClient) -> None:
    landing = demo_client.get("/ogc").json()
    assert all(h.startswith("http://testserver/") for h in hrefs(landing) if h.startswith("http"))
    discovery = demo_client.get("/open311/v2/discovery.json").json()
    assert discovery["endpoints"][0]["url"] == "http://testserver/open311/v2"
