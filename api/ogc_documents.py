"""The JSON documents of OGC API – Features (Parts 1–3) and Tiles: landing page, conformance, collections,
queryables, feature pages and tilesets, each with the links clients follow. `base` is the /ogc URL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from api.media_types import GEOJSON, HTML, JSON, MVT, OPENAPI, SCHEMA
from gis.ogc.collections import COLLECTIONS, Collection, ItemQuery, Page
from gis.ogc.crs import CRS84, SUPPORTED, OgcCrs
from gis.ogc.tile_matrix import WEB_MERCATOR_QUAD

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
)
_GEOJSON_SCHEMA = "https://geojson.org/schema/{}.json"


def link(href: str, rel: str, media_type: str, title: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"href": href, "rel": rel, "type": media_type}
    if title:
        out["title"] = title
    return out | extra


def _self_links(href: str, json_type: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """self (JSON) and alternate (HTML) links of a resource, keeping its query but its `f`."""
    kept = {k: v for k, v in (query or {}).items() if k != "f"}
    json_q = urlencode(kept | {"f": "json"})
    html_q = urlencode(kept | {"f": "html"})
    return [
        link(f"{href}?{json_q}", "self", json_type, "this document"),
        link(f"{href}?{html_q}", "alternate", HTML, "this document as HTML"),
    ]


def landing(base: str, root: str) -> dict[str, Any]:
    return {
        "title": "gridmap 网格化管理",
        "description": (
            "Communities, grid units, buildings, service facilities, incidents and walking catchments of the "
            "gridmap platform as OGC API – Features and vector Tiles."
        ),
        "links": [
            *_self_links(base, JSON),
            link(f"{root}/openapi.json", "service-desc", OPENAPI, "API definition"),
            link(f"{root}/docs", "service-doc", HTML, "API documentation"),
            link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{base}/collections", "data", JSON, "collections"),
            link(
                f"{base}/tileMatrixSets",
                "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                JSON,
                "tiling schemes",
            ),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def collection(
    session: Session, c: Collection, base: str, downloads: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    href = f"{base}/collections/{c.id}"
    links = [
        *_self_links(href, JSON),
        link(f"{href}/items?f=json", "items", GEOJSON, "features"),
        link(f"{href}/items?f=html", "items", HTML, "features as HTML"),
        link(f"{href}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA, "queryables"),
        *(downloads or []),
    ]
    if c.tiles:
        links.append(link(f"{href}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/vector-tiles", JSON, "vector tiles"))
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "extent": c.extent(session),
        "crs": [crs.uri for crs in SUPPORTED],
        "storageCrs": CRS84.uri,
        "links": links,
    }


def collections(session: Session, base: str, downloads: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "links": _self_links(f"{base}/collections", JSON),
        "collections": [collection(session, c, base, downloads.get(c.id)) for c in COLLECTIONS.values()],
    }


def queryables(c: Collection, base: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "geometry": {"$ref": _GEOJSON_SCHEMA.format(c.geometry_type), "x-ogc-role": "primary-geometry"}
    }
    for p in c.properties:
        if p.queryable:
            properties[p.name] = {"title": p.name} | (
                {"type": "string", "format": "date-time"} if p.type == "date-time" else {"type": p.type}
            )
    if c.temporal:
        properties[c.temporal]["x-ogc-role"] = "primary-instant"
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base}/collections/{c.id}/queryables",
        "type": "object",
        "title": c.title,
        "properties": properties,
        "additionalProperties": False,
    }


def items(page: Page, c: Collection, base: str, query: ItemQuery, params: dict[str, str]) -> dict[str, Any]:
    """A page of features with self/alternate/next/prev links that keep the caller's other parameters."""
    href = f"{base}/collections/{c.id}/items"
    links = _self_links(href, GEOJSON, params)
    kept = {k: v for k, v in params.items() if k not in ("offset", "f")} | {"limit": str(query.limit)}
    more = (
        len(page.features) == query.limit if page.matched is None else query.offset + len(page.features) < page.matched
    )
    if more:
        after = urlencode(kept | {"offset": str(query.offset + query.limit), "f": "json"})
        links.append(link(f"{href}?{after}", "next", GEOJSON, "next page"))
    if query.offset > 0:
        before = urlencode(kept | {"offset": str(max(query.offset - query.limit, 0)), "f": "json"})
        links.append(link(f"{href}?{before}", "prev", GEOJSON, "previous page"))
    links.append(link(f"{base}/collections/{c.id}", "collection", JSON, c.title))
    counted = {} if page.matched is None else {"numberMatched": page.matched}  # optional in OGC API – Features
    return {
        "type": "FeatureCollection",
        "timeStamp": _now(),
        **counted,
        "numberReturned": len(page.features),
        "features": page.features,
        "links": links,
    }


def item(feature: dict[str, Any], c: Collection, base: str, crs: OgcCrs, as_of: str | None = None) -> dict[str, Any]:
    """One feature with its links; `as_of` (as the caller wrote it) stays in the self links."""
    href = f"{base}/collections/{c.id}/items/{feature['id']}"
    query = ({} if crs == CRS84 else {"crs": crs.uri}) | ({} if as_of is None else {"as_of": as_of})
    feature["links"] = [
        *_self_links(href, GEOJSON, query),
        link(f"{base}/collections/{c.id}", "collection", JSON, c.title),
    ]
    return feature


def tilesets(c: Collection, base: str) -> dict[str, Any]:
    return {"links": _self_links(f"{base}/collections/{c.id}/tiles", JSON), "tilesets": [_tileset_summary(c, base)]}


def _tileset_summary(c: Collection, base: str) -> dict[str, Any]:
    href = f"{base}/collections/{c.id}/tiles/{WEB_MERCATOR_QUAD}"
    return {
        "title": f"{c.title} ({c.id}) vector tiles",
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
        "links": [
            link(href, "self", JSON, "tileset"),
            link(
                f"{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}",
                "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                JSON,
                "WebMercatorQuad",
            ),
        ],
    }


def tileset(c: Collection, base: str) -> dict[str, Any]:
    href = f"{base}/collections/{c.id}/tiles/{WEB_MERCATOR_QUAD}"
    summary = _tileset_summary(c, base)
    summary["links"].append(
        link(f"{href}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "item", MVT, "a tile", templated=True)
    )
    summary["layers"] = [
        {
            "id": c.id,  # the tile layer is named like the collection
            "dataType": "vector",
            "geometryDimension": 0 if c.geometry_type == "Point" else 1 if "Line" in c.geometry_type else 2,
            "minTileMatrix": str(c.tiles.min_zoom if c.tiles else 0),
        }
    ]
    return summary


def tile_matrix_sets(base: str) -> dict[str, Any]:
    return {
        "tileMatrixSets": [
            {
                "id": WEB_MERCATOR_QUAD,
                "title": "Google Maps Compatible for the World",
                "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
                "links": [link(f"{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}", "self", JSON, "WebMercatorQuad")],
            }
        ]
    }


def _now() -> str:
    """The time a page was read, as OGC API's timeStamp (UTC, whole seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
