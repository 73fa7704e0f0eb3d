"""The HTTP service: FastAPI routes over the Recommender facade.

    python -m engine serve --host 127.0.0.1 --port 8000        (or any ASGI server: create_app is a factory)

It serves the live published config version (engine/merchandising/drafts.py publishes, engine/recommend/
versions.py follows) and takes a new one within a second by itself; every response says which version
served it (`config_version` in list bodies and /health, the X-Config-Version header). Lists are cached (engine/cache.py) under keys that carry the config fingerprint and
the index version, so a new config or a reindex is never answered from stale entries. Every served list is
logged as impressions in one batch, with the request id, so clicks can be attributed to the list that
earned them; one writer thread does the writing, off the request path.

Every parameter and body is declared here, typed (Query, Path, pydantic models from engine.service.models),
once: FastAPI validates requests against the declarations and generates /openapi.json from them, so the
document cannot drift from what the service accepts. Errors are JSON {"error", "message", "request_id"}
(engine.service.errors): 400 for a bad parameter or body, 404 for an unknown product, 408 for a body that
did not arrive in time, 413 for an oversized body, 503 when the index or the store is not usable, 500 for
anything unexpected (the connection stays usable). Product photos are served at /media/ (engine.service.media).
"""
import logging
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any, AsyncIterator, Callable, Literal

from fastapi import Body, Depends, FastAPI, File, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from engine.encoders import warm_text_encoder
from engine.errors import InvalidImage, NotFound, ValidationError, VitrinaError
from engine.jobs import ensure_runner
from engine.search.parse import KINDS as QUERY_KINDS
from engine.recommend.fbt import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_LIFT, DEFAULT_MIN_SUPPORT
from engine.service import lists
from engine.service.errors import ContainErrors, PayloadTooLarge, install_error_handlers
from engine.service.hits import HitPath, Hits
from engine.service.media import MEDIA_ROUTE, PHOTO_TYPES, PHOTOS_ROUTE
from engine.service.models import (MAX_EVENTS_PER_REQUEST, MAX_TEXT, Error, Events, EventsResult, FBTList, Health,
                                   ImageForm, NotLike, NotLikeIn, PersonalisedList, PhotoList, ProductValues,
                                   RecommendationList, TextList, Values)
from engine.service.params import (ProductKey, Refine, SessionId, Shopper, Text, category, refine, shopper,
                                   strategy)
from engine.service.requests import (ReadDeadline, RequestIds, admit, bounded, current_request_id,
                                     multipart)
from engine.service.shop import routes as shop
from engine.service.shop.beacons import beacon_route
from engine.service.state import Service
from engine.settings import Settings

log = logging.getLogger(__name__)

API_VERSION = "2.0.0"
MAX_EVENTS_BODY_BYTES = 1024 * 1024
MAX_NOT_LIKE_BODY_BYTES = 4096
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the uploaded image
DESCRIPTION = ("Similar items, search by text and by photo, personalised lists, complete the look, trending and "
               "frequently bought together; the event log; catalog photos. Unknown or repeated query parameters "
               "are refused (400).")
_ERROR_TEXT = {400: "A parameter or the body is invalid.", 404: "Unknown product (or route).",
               413: "The body is over its size limit.", 503: "The index, store or config is not usable."}

__all__ = ["create_app", "Service", "MAX_EVENTS_PER_REQUEST", "PayloadTooLarge", "openapi_document"]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Error, "description": _ERROR_TEXT[code]} for code in codes}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's generated document, without the 422 it adds to every route: validation errors are answered
    400 with the Error body here (engine.service.errors), and the document says so."""
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in doc.get("paths", {}).values():
            for op in operations.values():
                op.get("responses", {}).pop("422", None)
        schemas = doc.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = doc
    return app.openapi_schema


def create_app(settings: Settings | None = None, *, body_seconds: float | None = None) -> FastAPI:
    """The ASGI app, serving the live config version (a first run publishes the built-in defaults as version 1).
    `body_seconds`: how long a request's body may take to arrive (408 after; default VITRINA_BODY_TIMEOUT)."""
    settings = settings or Settings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(service.recommender)
        except VitrinaError as e:
            log.error("starting without a usable index: %s", e)
        runner = ensure_runner(service.runtime)  # queued indexing jobs run beside the routes
        service.warm_cards()
        warm_text_encoder(service.runtime.text_encoder)  # the first text search would wait for the model
        yield
        await service.cache.aclose()  # the asynchronous Redis client's connections belong to this loop
        await run_in_threadpool(runner.stop)
        await run_in_threadpool(service.close)

    app = FastAPI(title="Vitrina recommendations", version=API_VERSION, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, lifespan=lifespan, dependencies=[Depends(admit)])
    app.state.service = service
    hits = app.state.hits = Hits()
    app.add_middleware(HitPath, service=service, hits=hits)  # innermost of these: after ids, containment, CORS
    app.add_middleware(ReadDeadline, seconds=body_seconds if body_seconds is not None else settings.body_timeout)  # the last added is the outermost
    app.add_middleware(ContainErrors)  # inside RequestIds: its 500 carries the request id
    app.add_middleware(RequestIds, config_version=service.serving_version)
    # Outermost: a preflight is answered before anything else, and only the configured shop origins (never a
    # wildcard) get CORS headers, on every answer, errors included.
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.shop_origins), allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type"], allow_credentials=False, max_age=600)
    install_error_handlers(app)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    _list_routes(app, service, hits)
    _other_routes(app, service, hits)
    shop.install(app, service)  # /widget.js and the demo shop (/shop/), outside the API document
    return app


# ---------------------------------------------------------------- the lists

Rid = Annotated[str, Depends(current_request_id)]
Category = Annotated[str | None, Depends(category)]
Refined = Annotated[Refine, Depends(refine)]
Who = Annotated[Shopper, Depends(shopper)]
Strategy = Annotated[str | None, Depends(strategy)]
ProductPath = Annotated[str, Path(min_length=1, max_length=MAX_TEXT, description="Product id or SKU."), *ProductKey]
SourceProduct = Annotated[str, Query(min_length=1, max_length=MAX_TEXT, description="Source product: id or SKU."),
                          *ProductKey]
UserPath = Annotated[str, Path(min_length=1, max_length=MAX_TEXT, description="Shopper id."), *Text]


def _list_routes(app: FastAPI, service: Service, hits: Hits) -> None:
    limit_max = service.settings.max_results
    Limit = Annotated[int, Query(ge=1, le=limit_max, description="How many products.")]

    async def answer(request: Request, rid: str, who: Shopper, call: Callable[..., Any], category: str | None,
                     logged: dict[str, Any]) -> Response:
        """A cached kind of list, served; its checked URL is remembered for the hit path (engine.service.hits)."""
        served = await lists.serve(service, call, category)
        if service.cache.enabled:
            hits.remember(request, call, category, logged)
        return lists.respond(service, served, request, rid, who, logged)

    def similar_by(by: str) -> Callable[..., Any]:
        async def similar(*, request: Request, id: ProductPath, rid: Rid, limit: Limit = 12, strategy: Strategy,
                    exclude_same_brand: Annotated[bool, Query(description="Leave out the source's brand.")] = False,
                    exclude_same_style: Annotated[bool, Query(description=(
                        "Leave out other colours and sizes of the source's style."))] = False,
                    category: Category, refine: Refined, who: Who) -> Response:
            return await answer(request, rid, who, partial(lists.similar, service, id, by, limit, strategy,
                                                           exclude_same_brand, exclude_same_style, category, refine),
                                category, lists.logged_filters(category, refine))
        return similar

    app.add_api_route("/api/products/{id}/similar/", similar_by("combined"), methods=["GET"],
                      response_model=RecommendationList,
                      operation_id="similar", responses=_errors(400, 404, 503),
                      summary="Products similar to a product (combined text and photo vectors), reranked.")
    app.add_api_route("/api/products/{id}/visually_similar/", similar_by("image"), methods=["GET"],
                      response_model=RecommendationList,
                      operation_id="visually_similar", responses=_errors(400, 404, 503),
                      summary="Products whose photos look like the product's photo.")

    max_photo = service.settings.max_upload_bytes

    def search_by_image(*, request: Request, form: Annotated[ImageForm, File()], rid: Rid, limit: Limit = 12,
                        strategy: Strategy, category: Category, refine: Refined, who: Who) -> Response:
        photo = form.image.file.read(max_photo + 1)
        if len(photo) > max_photo:
            raise PayloadTooLarge(f"the photo is over {max_photo} bytes; the limit is {max_photo} bytes")
        if not photo:
            raise InvalidImage("the uploaded image is empty")
        served = lists.search_by_image(service, photo, limit, strategy, category, refine)
        lists.record_search(service, served, rid, who, "photo")
        return lists.respond(service, served, request, rid, who, lists.logged_filters(category, refine))

    app.router.add_api_route(
        "/api/recommendations/search_by_image/", search_by_image, methods=["POST"], operation_id="search_by_image",
        response_model=PhotoList,
        summary='Products that look like an uploaded photo (multipart field "image").',
        responses=_errors(400, 413, 503), dependencies=[Depends(multipart)],
        route_class_override=bounded(max_photo + MULTIPART_OVERHEAD_BYTES, "the upload"))

    @app.get("/api/recommendations/search/", operation_id="search", responses=_errors(400, 503),
             response_model=TextList,
             summary="Products for a shopper's search text in any supported language (hybrid lexical and dense "
                     "search, held to the colour, gender, category and price the text names), reranked.")
    def search(*, request: Request, rid: Rid,
               q: Annotated[str, Query(min_length=1, max_length=service.settings.max_query_chars,
                                       description="The search text."), *Text],
               lang: Annotated[Literal["en", "ru", "tr"] | None, Query(description=(
                   "The storefront's language, recorded with the search (default: told by the letters)."))] = None,
               ignore: Annotated[Values, Query(description=(
                   "Kinds of attribute not to read from the text (colour, gender, category, price): a chip the "
                   "shopper took off."))] = None,
               limit: Limit = 12, strategy: Strategy, category: Category, refine: Refined, who: Who) -> Response:
        unknown = sorted(set(ignore or ()) - set(QUERY_KINDS))
        if unknown:
            raise ValidationError(f"ignore takes {', '.join(QUERY_KINDS)}; got {', '.join(unknown)}")
        served = lists.text_search(service, q, limit, strategy, sorted(set(ignore or ())), category, refine)
        listing = served[0]
        lists.record_search(service, served, rid, who, "text", query=q, language=lists.language_of(q, lang),
                            attributes={a["kind"]: a["value"] for a in listing.extra["attributes"]} or None)
        return lists.respond(service, served, request, rid, who, lists.logged_filters(category, refine))

    @app.get("/api/recommendations/personalized/", operation_id="personalized", responses=_errors(400, 404, 503),
             response_model=PersonalisedList,
             summary="Products for a shopper from their events; trending for anonymous shoppers and cold starts.")
    def personalized(*, request: Request, rid: Rid,
                     user_id: Annotated[str | None, Query(min_length=1, max_length=MAX_TEXT, description=(
                         "Shopper; absent = anonymous (trending).")), *Text] = None,
                     limit: Limit = 12,
                     not_like: Annotated[ProductValues, Query(description=(
                         "Products (ids or SKUs) to move away from in this request. Repeat the parameter or "
                         "separate values with commas."))] = None,
                     category: Category, refine: Refined, session_id: SessionId = None) -> Response:
        served, extra = lists.personalised(service, user_id, limit, not_like, category, refine)
        return lists.respond(service, served, request, rid, Shopper(session_id, user_id),
                             lists.logged_filters(category, refine), **extra)

    @app.get("/api/recommendations/complete_the_look/", operation_id="complete_the_look",
             responses=_errors(400, 404, 503), response_model=RecommendationList,
             summary="The best items of each complementary category of a product (the config's map).")
    async def complete_the_look(*, request: Request, rid: Rid, product_id: SourceProduct,
                          per_relation: Annotated[int | None, Query(ge=1, le=limit_max, description=(
                              "At most this many items per relation (default: each relation's max_items)."))] = None,
                          refine: Refined, who: Who) -> Response:
        return await answer(request, rid, who, partial(lists.complete_the_look, service, product_id, per_relation,
                                                       refine), None, refine.as_dict())

    @app.get("/api/recommendations/trending/", operation_id="trending", responses=_errors(400, 503),
             response_model=RecommendationList,
             summary="The most popular products now (time-decayed events).")
    async def trending(*, request: Request, rid: Rid, limit: Limit = 12, category: Category, refine: Refined,
                       who: Who) -> Response:
        return await answer(request, rid, who, partial(lists.trending, service, limit, category, refine), category,
                            lists.logged_filters(category, refine))

    @app.get("/api/recommendations/frequently_bought_together/", operation_id="frequently_bought_together",
             responses=_errors(400, 404, 503), response_model=FBTList,
             summary="Products carted or bought in the same sessions; complete the look where the log is too thin.")
    async def frequently_bought_together(
            *, request: Request, rid: Rid, product_id: SourceProduct,
            limit: Annotated[int, Query(ge=1, le=limit_max, description="How many products.")] = 6,
            min_support: Annotated[int, Query(ge=1, le=1_000_000, description=(
                "Baskets that must hold both products."))] = DEFAULT_MIN_SUPPORT,
            min_confidence: Annotated[float, Query(ge=0, le=1, allow_inf_nan=False, description=(
                "Share of the product's baskets that must hold the other."))] = DEFAULT_MIN_CONFIDENCE,
            min_lift: Annotated[float, Query(ge=0, le=1_000_000, allow_inf_nan=False, description=(
                "Confidence over the other's basket share (1 = chance)."))] = DEFAULT_MIN_LIFT,
            category: Category, refine: Refined, who: Who) -> Response:
        return await answer(request, rid, who, partial(lists.bought_together, service, product_id, limit,
                                                       min_support, min_confidence, min_lift, category, refine),
                            category, lists.logged_filters(category, refine))


# ---------------------------------------------------------------- events, marks, health, photos

def _other_routes(app: FastAPI, service: Service, hits: Hits) -> None:
    def post_events(*, events: Annotated[Events, Body()], rid: Rid) -> EventsResult:
        inserted, refused = lists.log_events(service, events)
        return EventsResult(received=len(events), inserted=inserted,
                            duplicates=len(events) - len(refused) - inserted, refused=refused, request_id=rid)

    app.router.add_api_route(
        "/api/events/", post_events, methods=["POST"], status_code=201, operation_id="events",
        summary=("Log shopper events: one JSON object or a list of them (also as text/plain, as sendBeacon "
                 "sends it). Events naming an unknown product or list, not fitting their list (position, product), "
                 "claiming a list's algorithm, strategy or position without its request_id, "
                 "or repeating a tile's impression or click are refused one by one (listed in `refused`); 404 or "
                 "400 when every event is."),
        responses=_errors(400, 404, 413),
        route_class_override=beacon_route(MAX_EVENTS_BODY_BYTES, "the events body"))  # sendBeacon: text/plain

    @app.get("/api/users/{user_id}/not_like/", operation_id="not_like_list", responses=_errors(400),
             summary='The products a shopper marked "not like this", most recent first.')
    def not_like_list(*, user_id: UserPath, rid: Rid) -> NotLike:
        return NotLike(user_id=user_id, not_like=service.recommender().profiles.dislikes(user_id), request_id=rid)

    def not_like_add(*, user_id: UserPath, mark: Annotated[NotLikeIn, Body()], rid: Rid) -> NotLike:
        rec = service.recommender()
        product = rec.card(mark.product_id)  # NotFound → 404
        rec.profiles.dislike(user_id, product.id)
        return NotLike(user_id=user_id, not_like=rec.profiles.dislikes(user_id), request_id=rid)

    app.router.add_api_route(
        "/api/users/{user_id}/not_like/", not_like_add, methods=["POST"], status_code=201,
        operation_id="not_like_add", responses=_errors(400, 404, 413),
        summary='Mark a product "not like this": personalised lists move away from it.',
        route_class_override=bounded(MAX_NOT_LIKE_BODY_BYTES, "the body"))

    @app.delete("/api/users/{user_id}/not_like/{product}/", operation_id="not_like_remove",
                responses=_errors(400, 404), summary='Take back a "not like this".')
    def not_like_remove(*, user_id: UserPath, product: ProductPath, rid: Rid) -> NotLike:
        rec = service.recommender()
        card = rec.card(product)
        if not rec.profiles.undislike(user_id, card.id):
            raise NotFound(f"user {user_id} has not marked {card.sku} as \"not like this\"")
        return NotLike(user_id=user_id, not_like=rec.profiles.dislikes(user_id), request_id=rid)

    @app.get("/health", operation_id="health", response_model_exclude_unset=True,
             responses={503: {"model": Health, "description": _ERROR_TEXT[503]}},
             summary="Whether the index, store and config are usable; cache state.")
    def health(*, response: Response, rid: Rid) -> Health:
        usable, body = service.health()
        if not usable:
            response.status_code = 503
        return Health(**body, hit_path=hits.status(), request_id=rid)

    photo_content = {t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(set(PHOTO_TYPES.values()))}

    @app.get(f"/{MEDIA_ROUTE}/{{path:path}}", name=MEDIA_ROUTE, operation_id="media", response_class=Response,
             responses={200: {"content": photo_content, "description": "The photo."}, **_errors(400, 404)},
             summary="A catalog photo: the `image` URL of a list item.")
    def media(*, path: Annotated[str, Path(description="The photo's path under the catalog folder.")]) -> Response:
        return service.photos.response(path)

    @app.get(f"/{PHOTOS_ROUTE}/{{folder}}/{{path:path}}", name=PHOTOS_ROUTE, operation_id="photos", response_class=Response,
             responses={200: {"content": photo_content, "description": "The photo."}, **_errors(400, 404)},
             summary="A photo of a folder a catalog import recorded: the `image` URL of a list item.")
    def photos(*, folder: Annotated[int, Path(ge=1, le=2**63 - 1, description="The recorded folder's id.")],
               path: Annotated[str, Path(description="The photo's path under that folder.")]) -> Response:
        return service.photos.recorded_response(folder, path)
