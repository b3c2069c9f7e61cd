"""OGC API – Features and Tiles under /ogc, so QGIS, GDAL and other city systems read the live data.

One router factory (`CollectionRouter`) serves every collection of gis/ogc/collections.py, which are the layers
of the catalog (gis/layers/catalog.py) and the computed catchments: declaring a layer there is the only step.
Every route answers JSON (GeoJSON for features) or, with ?f=html or a browser's Accept header, HTML; the
response models (api/schemas/ogc.py) document the JSON. Everything here is public: only public fields are served.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from api import ogc_documents as docs
from api.base_url import public_root
from api.deps import AsOf, Offset, ReadSessionDep, SettingsDep
from api.limits import EXPENSIVE_READS, TOKEN_CHECKED
from api.media_types import DOWNLOADS, GEOJSON, JSON, SCHEMA, GeoJSONResponse, SchemaResponse
from api.routers.tiles import TILE_RESPONSES, TileCacheDep, tile_response
from api.schemas import ogc as schemas
from gis.errors import BadParameter, NotFound
from gis.exchange.downloads import FORMATS
from gis.layers import tiles
from gis.layers.catalog import LAYERS
from gis.ogc.collections import COLLECTIONS, Collection, ItemQuery, get_collection, parse_interval, parse_value
from gis.ogc.crs import OgcCrs, parse_bbox, parse_crs
from gis.ogc.tile_matrix import check_matrix_set, check_tile, tile_matrix_set
from maps import ogc_html

PREFIX = "/ogc"
_ITEM_PARAMS = {"bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "f", "as_of"}
DEFAULT_LIMIT = 10

Format = Annotated[str | None, Query(description="json (default) or html", pattern="^(json|html|geojson)$")]
CrsQ = Annotated[str | None, Query(description="output CRS: CRS84 (default), EPSG 4326, 4490 or 3857 URI")]


_RESPONSE_CLASSES: dict[str, type[JSONResponse]] = {
    JSON: JSONResponse,
    GEOJSON: GeoJSONResponse,
    SCHEMA: SchemaResponse,
}


def _offers(media_type: str, model: type[BaseModel]) -> dict[str, Any]:
    """Route options documenting what it really answers: `model` as `media_type`, or HTML (?f=html, browsers).

    The routes negotiate and return their response themselves: the model documents the JSON, it is not applied."""
    return {
        "response_class": _RESPONSE_CLASSES[media_type],
        "response_model": model,
        "responses": {200: {"content": {"text/html": {}}}},
    }


def _content_crs(crs: OgcCrs) -> dict[str, str]:
    """The Content-Crs header of OGC API – Features Part 2."""
    return {"Content-Crs": f"<{crs.uri}>"}


def _base(request: Request) -> tuple[str, str]:
    root = public_root(request)
    return f"{root}{PREFIX}", root


def _wants_html(request: Request, f: str | None) -> bool:
    if f is not None:
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept.split("text/html")[0]


def _answer(
    request: Request, f: str | None, document: dict[str, Any], media_type: str, kind: str, headers: dict[str, str]
) -> Response:
    if _wants_html(request, f):
        return HTMLResponse(ogc_html.render(kind, document), headers=headers)
    return JSONResponse(document, media_type=media_type, headers=headers)


def _check_params(request: Request, allowed: set[str]) -> None:
    """OGC API: an unknown query parameter is a 400, not silently ignored (a typo would return everything)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise BadParameter(
            f"unknown query parameter(s) {', '.join(unknown)}; this resource takes {', '.join(sorted(allowed))}",
            where=unknown[0],
        )


def _downloads(request: Request, c: Collection) -> list[dict[str, Any]]:
    """Enclosure links to whole-layer downloads (gis.exchange.downloads), for collections that are stored layers."""
    if c.id not in LAYERS:
        return []
    root = public_root(request)
    return [
        docs.link(f"{root}/api/{c.id}/download?format={key}", "enclosure", DOWNLOADS[key], f"download as {key}")
        for key in FORMATS
    ]


class CollectionRouter:
    """The routes of one collection: description, items, one item, queryables and (if it has them) tiles."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.router = APIRouter(prefix=f"{PREFIX}/collections/{collection.id}", tags=["ogc"])
        # Items computed on request (catchments) are rate-limited for the public (api.limits): a bearer token
        # lifts that, so there it must be a valid one.
        self.item_dependencies: list[Any] = (
            [TOKEN_CHECKED] if EXPENSIVE_READS.fullmatch(f"{PREFIX}/collections/{collection.id}/items") else []
        )
        self._register()

    def _register(self) -> None:
        c = self.collection
        filters = ", ".join(p.name for p in c.properties if p.queryable)
        extra = {"plan"} if c.plan_scoped else set()
        queryable = {p.name for p in c.properties if p.queryable}

        @self.router.get("", summary=f"the {c.id} collection", **_offers(JSON, schemas.CollectionInfo))
        def describe(request: Request, session: ReadSessionDep, f: Format = None) -> Response:
            _check_params(request, {"f"})
            base, _ = _base(request)
            return _answer(
                request, f, docs.collection(session, c, base, _downloads(request, c)), JSON, "collection", {}
            )

        @self.router.get(
            "/items",
            summary=f"{c.id} features",
            dependencies=self.item_dependencies,
            **_offers(GEOJSON, schemas.items_model(c)),
            description=f"Filter by equality on a queryable: {filters}."
            + (" Grids: ?plan=ID for a plan other than the published one." if c.plan_scoped else "")
            + (" ?as_of= for the features as they were then." if c.keeps_history else " No as_of: no history."),
        )
        def items(
            request: Request,
            session: ReadSessionDep,
            settings: SettingsDep,
            bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs axis order")] = None,
            bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
            crs: CrsQ = None,
            limit: Annotated[int, Query(ge=1, description="features per page (at most the server's maximum)")] = 10,
            offset: Offset = 0,
            datetime: Annotated[str | None, Query(description="instant or interval start/end ('..' open)")] = None,
            plan: Annotated[int | None, Query(description="grids only: a plan id")] = None,
            as_of: AsOf = None,
            f: Format = None,
        ) -> Response:
            _check_params(request, _ITEM_PARAMS | extra | queryable)
            c.check_as_of(as_of)
            if datetime is not None and c.temporal is None:
                raise BadParameter(f"datetime: the {c.id} collection has no time to filter on", where="datetime")
            if bbox_crs is not None and bbox is None:
                raise BadParameter("bbox-crs: names the CRS of bbox, and there is no bbox", where="bbox-crs")
            output = parse_crs(crs, where="crs")
            query = ItemQuery(
                bbox=parse_bbox(bbox, parse_crs(bbox_crs, where="bbox-crs")) if bbox is not None else None,
                crs=output,
                limit=min(limit, settings.page_limit_max, c.max_limit or settings.page_limit_max),
                offset=offset,
                interval=parse_interval(datetime) if datetime is not None else None,
                filters={
                    name: parse_value(c.property(name), value)
                    for name, value in request.query_params.items()
                    if name in queryable
                },
                plan_id=plan,
                as_of=as_of,
            )
            base, _ = _base(request)
            page = c.page(session, query, settings)
            document = docs.items(page, c, base, query, dict(request.query_params))
            return _answer(request, f, document, GEOJSON, "items", _content_crs(output))

        @self.router.get(
            "/items/{featureId}",
            summary=f"one {c.id} feature",
            dependencies=self.item_dependencies,
            **_offers(GEOJSON, schemas.feature_model(c)),
        )
        def item(
            request: Request,
            session: ReadSessionDep,
            settings: SettingsDep,
            feature_id: Annotated[str, Path(alias="featureId")],
            crs: CrsQ = None,
            as_of: AsOf = None,
            f: Format = None,
        ) -> Response:
            _check_params(request, {"crs", "f", "as_of"})
            output = parse_crs(crs, where="crs")
            base, _ = _base(request)
            found = c.item(session, feature_id, output, settings, as_of)
            document = docs.item(found, c, base, output, request.query_params.get("as_of"))
            return _answer(request, f, document, GEOJSON, "item", _content_crs(output))

        @self.router.get(
            "/queryables", summary=f"what {c.id} items can be filtered by", **_offers(SCHEMA, schemas.Queryables)
        )
        def queryables(request: Request, f: Format = None) -> Response:
            _check_params(request, {"f"})
            base, _ = _base(request)
            return _answer(request, f, docs.queryables(c, base), SCHEMA, "queryables", {})

        if c.tiles:
            self._register_tiles(c)

    def _register_tiles(self, c: Collection) -> None:
        layer = tiles.tile_layer(c.id)

        @self.router.get("/tiles", summary=f"{c.id} vector tilesets", **_offers(JSON, schemas.Tilesets))
        def tilesets(request: Request, f: Format = None) -> Response:
            base, _ = _base(request)
            return _answer(request, f, docs.tilesets(c, base), JSON, "tilesets", {})

        @self.router.get("/tiles/{tileMatrixSetId}", summary=f"the {c.id} tileset", **_offers(JSON, schemas.Tileset))
        def tileset(
            request: Request, matrix_set: Annotated[str, Path(alias="tileMatrixSetId")], f: Format = None
        ) -> Response:
            check_matrix_set(matrix_set)
            base, _ = _base(request)
            return _answer(request, f, docs.tileset(c, base), JSON, "tileset", {})

        @self.router.get(
            "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
            response_class=Response,
            responses=TILE_RESPONSES,
            summary=f"a {c.id} Mapbox vector tile",
        )
        def tile(
            session: ReadSessionDep,
            cache: TileCacheDep,
            matrix_set: Annotated[str, Path(alias="tileMatrixSetId")],
            tile_matrix: Annotated[str, Path(alias="tileMatrix")],
            row: Annotated[int, Path(alias="tileRow", ge=0)],
            col: Annotated[int, Path(alias="tileCol", ge=0)],
            plan: Annotated[int | None, Query(description="grids only: a plan id")] = None,
            if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
        ) -> Response:
            check_matrix_set(matrix_set)
            z = check_tile(tile_matrix, row, col)
            return tile_response(tiles.serve_tile(session, cache, layer, z, col, row, plan_id=plan), if_none_match)


router = APIRouter(prefix=PREFIX, tags=["ogc"])


@router.get("", summary="OGC API landing page", **_offers(JSON, schemas.LandingPage))
@router.get("/", include_in_schema=False)
def landing(request: Request, f: Format = None) -> Response:
    _check_params(request, {"f"})
    base, root = _base(request)
    return _answer(request, f, docs.landing(base, root), JSON, "landing", {})


@router.get("/conformance", summary="the conformance classes this API implements", **_offers(JSON, schemas.Conformance))
def conformance(request: Request, f: Format = None) -> Response:
    _check_params(request, {"f"})
    return _answer(request, f, docs.conformance(), JSON, "conformance", {})


@router.get("/collections", summary="every collection", **_offers(JSON, schemas.Collections))
def collections(request: Request, session: ReadSessionDep, f: Format = None) -> Response:
    _check_params(request, {"f"})
    base, _ = _base(request)
    downloads = {c.id: _downloads(request, c) for c in COLLECTIONS.values()}
    return _answer(request, f, docs.collections(session, base, downloads), JSON, "collections", {})


@router.get("/tileMatrixSets", summary="the tiling schemes offered", **_offers(JSON, schemas.TileMatrixSets))
def matrix_sets(request: Request, f: Format = None) -> Response:
    _check_params(request, {"f"})
    base, _ = _base(request)
    return _answer(request, f, docs.tile_matrix_sets(base), JSON, "tileMatrixSets", {})


@router.get(
    "/tileMatrixSets/{tileMatrixSetId}", summary="a tile matrix set definition", **_offers(JSON, schemas.TileMatrixSet)
)
def matrix_set(
    request: Request, matrix_set_id: Annotated[str, Path(alias="tileMatrixSetId")], f: Format = None
) -> Response:
    check_matrix_set(matrix_set_id)
    return _answer(request, f, tile_matrix_set(), JSON, "tileMatrixSet", {})


unknown = APIRouter(prefix=PREFIX, include_in_schema=False)


@unknown.get("/collections/{collectionId}")
@unknown.get("/collections/{collectionId}/{rest:path}")
def unknown_collection(collection_id: Annotated[str, Path(alias="collectionId")]) -> None:
    get_collection(collection_id)  # raises NotFound listing the collections that exist
    raise NotFound(f"the {collection_id} collection has no such resource", where="path")


def routers() -> list[APIRouter]:
    """The root routes, one router per collection, and last the answer for collections that do not exist."""
    return [router, *(CollectionRouter(c).router for c in COLLECTIONS.values()), unknown]
