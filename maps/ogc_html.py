"""HTML views of the /ogc documents, for people who open the API in a browser: plain tables and links.

No scripts or stylesheets from elsewhere (the platform runs offline); user data is always escaped.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any


def _links(links: list[dict[str, Any]]) -> str:
    items = "".join(
        f"<li><a href='{escape(link['href'])}'>{escape(link.get('title') or link['rel'])}</a>"
        f" <small>({escape(link['rel'])}, {escape(link.get('type', ''))})</small></li>"
        for link in links
        if not link.get("templated")
    )
    return f"<ul>{items}</ul>"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _link_to(links: list[dict[str, Any]], rel: str, label: str) -> str:
    for link in links:
        if link["rel"] == rel and link.get("type") != "text/html":
            return f"<a href='{escape(link['href'])}'>{escape(label)}</a>"
    return ""


def _alternate(links: list[dict[str, Any]], label: str) -> str:
    for link in links:
        if link["rel"] == "alternate" and link.get("type") == "text/html":
            return f"<a href='{escape(link['href'])}'>{escape(label)}</a>"
    return escape(label)


def _body(kind: str, doc: dict[str, Any]) -> tuple[str, str]:
    if kind == "landing":
        return doc["title"], f"<p>{_text(doc['description'])}</p>" + _links(doc["links"])
    if kind == "conformance":
        return "Conformance 符合性", "<ul>" + "".join(f"<li>{_text(c)}</li>" for c in doc["conformsTo"]) + "</ul>"
    if kind == "collections":
        rows = [
            [
                _alternate(c["links"], c["id"]),
                _text(c["title"]),
                _text(c["description"]),
            ]
            for c in doc["collections"]
        ]
        return "Collections 数据集", _table(["id", "title", "description"], rows)
    if kind == "collection":
        bbox = doc["extent"]["spatial"]["bbox"][0]
        extent = f"<p>Extent 范围: {', '.join(f'{v:.6f}' for v in bbox)} (CRS84)</p>"
        return f"{doc['title']} ({doc['id']})", f"<p>{_text(doc['description'])}</p>{extent}" + _links(doc["links"])
    if kind == "items":
        features = doc["features"]
        names = list(dict.fromkeys(k for f in features for k in f["properties"]))
        rows = [[_text(f["id"]), *(_text(f["properties"].get(n)) for n in names)] for f in features]
        paging = " ".join(
            x
            for x in (
                _link_to(doc["links"], "prev", "← 上一页 previous"),
                _link_to(doc["links"], "next", "下一页 next →"),
            )
            if x
        )
        summary = f"<p>{doc['numberReturned']} of {doc['numberMatched']} features 个要素 · {paging}</p>"
        return "Features 要素", summary + _table(["id", *names], rows)
    if kind == "item":
        rows = [[_text(k), _text(v)] for k, v in doc["properties"].items()]
        geometry = doc["geometry"]["type"] if doc.get("geometry") else "none"
        return f"Feature 要素 {doc['id']}", f"<p>geometry: {escape(geometry)}</p>" + _table(["property", "value"], rows)
    if kind == "queryables":
        rows = [[_text(k), _text(v.get("type") or v.get("$ref"))] for k, v in doc["properties"].items()]
        return f"Queryables 可筛选字段: {doc['title']}", _table(["name", "type"], rows)
    title = {"tilesets": "Tilesets 瓦片集", "tileset": "Tileset 瓦片集", "tileMatrixSets": "Tile matrix sets"}
    return title.get(kind, kind), f"<pre>{escape(json.dumps(doc, ensure_ascii=False, indent=2))}</pre>"


def render(kind: str, doc: dict[str, Any]) -> str:
    """The document `doc` of type `kind` (landing, collections, items, …) as a standalone HTML page."""
    title, body = _body(kind, doc)
    nav = (
        _links([link for link in doc.get("links", []) if link["rel"] in ("self", "collection")])
        if kind != "landing"
        else ""
    )
    return (
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · gridmap OGC API</title>"
        "<link rel='stylesheet' href='/static/gridmap/ogc.css'></head><body>"
        f"<nav><a href='/ogc?f=html'>gridmap OGC API</a><a href='/ogc/collections?f=html'>collections</a></nav>"
        f"<h1>{escape(title)}</h1>{body}{nav}</body></html>"
    )
