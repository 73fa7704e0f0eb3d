"""What each endpoint computes: the recommender call, the cache key of its list, and the response the list
becomes. The routes (engine.service.app) declare and validate the parameters; these functions get them
typed and resolve a product once per request. Each cached list function takes `key_only` and `missed`: the
route first calls it on the event loop with key_only=True, which gives the list's cache key without blocking (or
None), awaits the lookup there (in-process, or Redis through redis.asyncio), and only on a miss runs it in the
thread pool with the key it missed (the recommender blocks on SQL and the vector store)."""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Callable, Sequence

import orjson
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from engine.cache import LIST_FORMAT, CachedList
from engine.errors import NotFound, ValidationError
from engine.insights.events import Event
from engine.insights.searches import record_search as record
from engine.photos.confidence import GOOD, LOOSE
from engine.recommend.facade import Recommender
from engine.recommend.looks import LOOK_STRATEGY
from engine.recommend.personal import SERVED_PERSONALISED
from engine.types import Recommendation
from engine.service.media import absolute
from engine.service.models import EventIn, Item, Refusal
from engine.service.params import Refine, Shopper
from engine.service.shop.attribution import attribute
from engine.service.state import Lookup, Service

log = logging.getLogger(__name__)

Served = tuple[CachedList, bool]  # the list, and whether it came from the cache


def respond(service: Service, served: Served, request: Request, rid: str, shopper: Shopper,
            logged: dict[str, Any], /, **extra: Any) -> Response:
    """The response of a served list, after queueing its impressions (with the filters it was served under).
    Written directly as JSON: the items were rendered (and checked against `Item`) when the list was computed,
    so a cache hit builds no models; the routes declare the response models for the OpenAPI document."""
    listing, cached = served
    service.log_impressions(listing, rid, shopper.session_id, shopper.user_id, logged)
    base = str(request.base_url)
    items = [{**it, "image": absolute(it["image"], base)} for it in listing.items]
    body = {"items": items, "algorithm": listing.algorithm, "strategy": listing.strategy,
            "config_version": listing.config_version, "cached": cached, "request_id": rid, **listing.extra, **extra}
    return Response(orjson.dumps(body), media_type="application/json")  # a fifth of a cache hit with json.dumps


def rendered(service: Service, recs: Sequence[Recommendation], algorithm: str, **fields: Any) -> CachedList:
    """A computed list as it is cached and served: each item as the response shows it."""
    items = [Item.of(r, service.photos.route(r.product.image)).model_dump(mode="json") for r in recs]
    return CachedList(format=LIST_FORMAT, items=items, algorithm=algorithm, **fields)


async def inline(service: Service, call: Callable[..., Served | Lookup | None],
                 category: str | None = None) -> Served | Lookup | None:
    """The list from the cache, looked up on the event loop when that cannot block: the list on a hit, the
    Lookup that missed, or None when the lookup could not run here. Engine errors of the key (an unknown
    strategy, say) propagate."""
    if not service.answers_inline(category):
        return None
    found = call(key_only=True)
    if not isinstance(found, Lookup):
        return None
    served = await service.lookup(found)
    return served if served is not None else found


async def serve(service: Service, call: Callable[..., Served | Lookup | None], category: str | None = None) -> Served:
    """A list from the cache on the event loop when the lookup cannot block; else, and on a miss, from the thread
    pool."""
    found = await inline(service, call, category)
    if isinstance(found, tuple):
        return found
    return await run_in_threadpool(call, missed=found.key if found is not None else None)


def logged_filters(category: str | None, refine: Refine) -> dict[str, Any]:
    return {"category": category, **refine.as_dict()}


def similar(service: Service, key: str, by: str, n: int, strategy: str | None, exclude_same_brand: bool,
            exclude_same_style: bool, category: str | None, refine: Refine, *, key_only: bool = False,
            missed: str | None = None) -> Served | Lookup | None:
    strategy = service.strategy(strategy)
    filters = service.filters(category, refine)

    def compute(rec: Recommender) -> CachedList:
        source = rec.card(key)  # NotFound → 404; similar() gets the id, so the product is resolved once
        items = rec.similar(source.id, by=by, n=n, filters=filters, strategy=strategy,
                            exclude_same_brand=exclude_same_brand, exclude_same_style=exclude_same_style)
        return rendered(service, items, f"vector_{by}", strategy=strategy, source_product_id=source.id)

    params = {"id": key, "limit": n, "strategy": strategy, "exclude_same_brand": exclude_same_brand,
              "exclude_same_style": exclude_same_style, "category": category, **refine.as_dict()}
    return service.cached_list(f"similar-{by}", params, compute, key_only=key_only, missed=missed)


def search_by_image(service: Service, photo: bytes, n: int, strategy: str | None, category: str | None,
                    refine: Refine) -> Served:
    strategy = service.strategy(strategy)
    filters = service.filters(category, refine)

    def compute(rec: Recommender) -> CachedList:
        found = rec.search_by_photo(photo, n=n, filters=filters, strategy=strategy)
        return rendered(service, found.items, "search_image", strategy=strategy, extra={"match": found.match})

    params = {"image": hashlib.sha256(photo).hexdigest(), "limit": n, "strategy": strategy,
              "category": category, **refine.as_dict()}
    return service.cached_list("search-image", params, compute)


def text_search(service: Service, query: str, n: int, strategy: str | None, ignore: list[str], category: str | None,
                refine: Refine) -> Served:
    """Search by text (engine.search.text through the facade): the list carries whether it is a good match and the
    attributes read from the query, so a storefront can say "loosely related" and show what it understood."""
    strategy = service.strategy(strategy)
    filters = service.filters(category, refine)

    def compute(rec: Recommender) -> CachedList:
        found = rec.text_search(query, n=n, filters=filters, strategy=strategy, ignore=ignore)
        attributes = [{"kind": a.kind, "value": a.value, "label": a.label} for a in found.attributes]
        return rendered(service, found.items, "search_text", strategy=strategy,
                        extra={"query": query, "match": LOOSE if found.loose else GOOD, "attributes": attributes})

    params = {"q": query, "limit": n, "strategy": strategy, "ignore": sorted(ignore), "category": category,
              **refine.as_dict()}
    return service.cached_list("search-text", params, compute)


def language_of(query: str, stated: str | None) -> str | None:
    """The query's language for the search insights: the one the storefront states (its page language), else
    what the letters tell (Cyrillic is Russian, ç ğ ı ş İ are Turkish); plain Latin letters say nothing more."""
    if stated is not None:
        return stated
    if any("\u0400" <= ch <= "\u04ff" for ch in query):
        return "ru"
    if any(ch in "çğışİÇĞŞ" for ch in query):
        return "tr"
    return None


def record_search(service: Service, served: Served, rid: str, shopper: Shopper, kind: str,
                  query: str | None = None, language: str | None = None, attributes: dict | None = None) -> None:
    """Record the search for the search insights (engine.insights.searches); the shopper already has the
    answer, so a log that cannot take the row costs the row, never the response."""
    listing, _ = served
    try:
        record(service.events.db, kind=kind, results=len(listing.items), query=query, language=language,
               attributes=attributes, no_good_match=listing.extra.get("match") == LOOSE, request_id=rid,
               session_id=shopper.session_id)
    except Exception:
        log.exception("could not record search %s", rid)


def personalised(service: Service, user_id: str | None, n: int, not_like: list[str] | None,
                 category: str | None, refine: Refine) -> tuple[Served, dict[str, Any]]:
    """Never cached: it follows the shopper's latest events."""
    serving = service.current()
    result = serving.recommender.personalised(user_id, n=n, filters=service.filters(category, refine),
                                                not_like=not_like or ())
    is_personal = result.served == SERVED_PERSONALISED
    profile = None
    if result.profile is not None:
        profile = {"events": result.profile.events, "price_band": result.profile.price_band,
                   "categories": {str(k): round(v, 4) for k, v in result.profile.categories.items()}}
    listing = rendered(service, result.items, "personalised" if is_personal else "trending",
                       strategy=serving.config.default_strategy if is_personal else None,
                       config_version=serving.version)
    return (listing, False), {"served": result.served, "reason": result.reason, "profile": profile}


def complete_the_look(service: Service, key: str, per_relation: int | None, refine: Refine, *,
                      key_only: bool = False, missed: str | None = None) -> Served | Lookup | None:
    filters = service.filters(None, refine)

    def compute(rec: Recommender) -> CachedList:
        source = rec.card(key)
        items = rec.complete_the_look(source.id, n_per_relation=per_relation, filters=filters)
        return rendered(service, items, "complete_the_look", strategy=LOOK_STRATEGY.name,
                        source_product_id=source.id)

    return service.cached_list("complete-the-look", {"product_id": key, "per_relation": per_relation,
                                                     **refine.as_dict()}, compute, key_only=key_only,
                               missed=missed)


def trending(service: Service, n: int, category: str | None, refine: Refine, *,
             key_only: bool = False, missed: str | None = None) -> Served | Lookup | None:
    filters = service.filters(category, refine)

    def compute(rec: Recommender) -> CachedList:
        return rendered(service, rec.trending(n, filters=filters), "trending")

    return service.cached_list("trending", {"limit": n, "category": category, **refine.as_dict()}, compute,
                               key_only=key_only, missed=missed)


def bought_together(service: Service, key: str, n: int, min_support: int, min_confidence: float, min_lift: float,
                    category: str | None, refine: Refine, *, key_only: bool = False,
                    missed: str | None = None) -> Served | Lookup | None:
    filters = service.filters(category, refine)

    def compute(rec: Recommender) -> CachedList:
        source = rec.card(key)
        result = rec.frequently_bought_together(source.id, n=n, min_support=min_support,
                                                min_confidence=min_confidence, min_lift=min_lift, filters=filters)
        return rendered(service, result.items, "fbt", source_product_id=source.id,
                        extra={"source": result.source, "reason": result.reason, "baskets": result.baskets})

    params = {"product_id": key, "limit": n, "min_support": min_support, "min_confidence": min_confidence,
              "min_lift": min_lift, "category": category, **refine.as_dict()}
    return service.cached_list("fbt", params, compute, key_only=key_only, missed=missed)


def log_events(service: Service, events: list[EventIn]) -> tuple[int, list[Refusal]]:
    """Validate every event (a bad one refuses the whole batch: 400), then store those naming known products
    and, when they name a list, fitting a list this service served (engine.service.shop.attribution: its
    request id, a position holding the product, one impression and one click per position). An event failing
    those is refused on its own, so one stale product or replayed beacon in a storefront's batch does not lose
    the rest. Every event refused: nothing written, 404 when each names an unknown product or list, else 400.
    Returns how many were new (an event_id already logged is skipped) and the refusals."""
    serving = service.current()
    rec = serving.recommender
    named = {e.product_id for e in events if e.product_id is not None}
    named |= {e.source_product_id for e in events if e.source_product_id is not None}
    known = set(rec.cards(sorted(named)))
    pending, refused = [], []
    for i, e in enumerate(events):
        try:
            product_id = rec.card(e.sku).id if e.sku is not None else e.product_id
            if product_id not in known and e.sku is None:
                raise NotFound(f"no product with id {product_id}")
            if e.source_product_id is not None and e.source_product_id not in known:
                raise NotFound(f"no source product with id {e.source_product_id}")
        except NotFound as err:
            refused.append(Refusal(event=i, error=NotFound.__name__, message=f"event {i}: {err}"))
            continue
        ev = Event(e.kind, e.session_id, product_id, ts=e.ts, user_id=e.user_id,
                   source_product_id=e.source_product_id, query=e.query, algorithm=e.algorithm,
                   strategy=e.strategy, position=e.position, score=e.score, filters=e.filters,
                   experiment=e.experiment, variant=e.variant,
                   config_version=e.config_version if e.config_version is not None else serving.version,
                   external_id=f"api:{e.event_id}" if e.event_id else None, request_id=e.request_id,
                   price=e.price, quantity=e.quantity)
        try:
            pending.append((i, e, ev.validate()))
        except ValidationError as err:
            raise ValidationError(f"event {i}: {err}") from None
    out, unfit = attribute(service, pending)
    refused = sorted(refused + [Refusal(event=i, error=name, message=f"event {i}: {why}") for i, name, why in unfit],
                     key=lambda r: r.event)
    if not out:
        everything = "; ".join(r.message for r in refused)
        raise (NotFound if all(r.error == NotFound.__name__ for r in refused) else ValidationError)(everything)
    return service.events.log_many(out), refused
