"""The storefront side of the service: `/widget.js` and the demo shop at `/shop/`.

The shop is a sub-application mounted on the service: its pages are server-rendered (Jinja2, autoescaped:
product text never reaches a page unescaped) and take their own query parameters, outside the API's
documented, strictly checked ones (engine.service.requests.admit), while the service's middleware (request
ids, contained errors, body deadlines, CORS) wraps it like every route. Its product pages carry the widget,
exactly as a shop on another origin would; the public shop shows the live config, and a console link with a
signed, expiring token (engine.service.shop.tokens) shows the shared draft — lists computed by the draft's
recommender at /shop/preview/, never logged, so a preview leaves no event behind.

A page for an unknown or deleted product is a 404 page; the service's own failure a 503 page; neither is a
traceback."""
from __future__ import annotations

import json
import logging
import math
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from engine.errors import NotFound, ValidationError, VitrinaError
from engine.insights.events import REQUEST_ID
from engine.merchandising.drafts import ConfigWorkflow
from engine.recommend.rerank import REASON_TEXT
from engine.service import lists
from engine.service.errors import PayloadTooLarge, RequestTimeout, request_id
from engine.service.media import absolute
from engine.service.requests import read_body
from engine.service.shop import cart, tokens
from engine.service.state import Service
from engine.types import ProductCard

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PAGE = 24  # products per catalog page
MAX_FORM_BYTES = 4096
WIDGET_KINDS = ("similar", "look", "fbt", "personalized", "trending")
LANGUAGES = ("en", "ru", "tr")
PREVIEW_LIMIT = 50


def widget_source() -> bytes:
    """widget.js with the reason texts of the engine (engine.recommend.rerank) inlined, so the widget shows a
    reason in the page's language whatever language the catalog's reasons came in."""
    table: dict[str, dict[str, str]] = {}
    for texts in REASON_TEXT.values():
        for text in texts.values():
            table[text] = texts
    source = (HERE / "static" / "widget.js").read_text(encoding="utf-8")
    return source.replace("/*REASONS*/{}", json.dumps(table, ensure_ascii=False, separators=(",", ":"))).encode()


def install(app: FastAPI, service: Service) -> None:
    """Add /widget.js and mount the demo shop at /shop on the service's app."""
    script = widget_source()

    async def widget(request: Request) -> Response:
        return Response(script, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    # A plain route, as the mounted shop: outside the API's document and its query-parameter checks.
    app.add_route("/widget.js", widget, methods=["GET", "HEAD"], include_in_schema=False)

    app.mount("/shop", shop_app(service), name="shop")


# ---------------------------------------------------------------- pages

def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = lambda v: f"{float(v):,.2f}"
    return env


def shop_app(service: Service) -> FastAPI:
    shop = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    env = _env()
    rt = service.runtime

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        who = cart.shopper(request)
        lang = request.cookies.get("vitrina_lang", "en")
        context.setdefault("preview", None)
        html = env.get_template(name).render(
            request=request, lang=lang if lang in LANGUAGES else "en", cart_count=sum(x.quantity for x in
                                                                                    cart.read_cart(request)),
            roots=[n for n in rt.catalog.categories() if n.depth == 0 and n.total], here=request.url.path,
            **context)
        return cart.set_cookies(HTMLResponse(html, status_code=status), who)

    def card(sku: str) -> ProductCard:
        """An active product by SKU (NotFound otherwise: a deleted product has no page)."""
        product = rt.catalog.get(sku)
        if not product.is_active:
            raise NotFound(f"product {sku!r} is no longer sold")
        return rt.catalog.card(product)

    def image(c: ProductCard, request: Request) -> str | None:
        return absolute(service.photos.route(c.image), service_root(request))

    async def failed(request: Request, exc: Exception) -> HTMLResponse:
        if isinstance(exc, NotFound):
            status, title = 404, "Not found"
        elif isinstance(exc, (PayloadTooLarge, RequestTimeout)):
            status, title = 413 if isinstance(exc, PayloadTooLarge) else 408, "Not possible"
        elif isinstance(exc, ValidationError):
            status, title = 400, "Not possible"
        elif isinstance(exc, HTTPException):
            status, title = exc.status_code, "Not found" if exc.status_code == 404 else "Not possible"
        else:
            if not isinstance(exc, VitrinaError):
                log.error("shop page %s failed", request.url.path, exc_info=exc)
            status, title = 503, "The shop is unavailable"
        message = str(exc.detail if isinstance(exc, HTTPException) else exc) if status < 500 else (
            "Please try again in a moment.")
        try:
            return page(request, "error.html", status, title=title, message=message, rid=request_id(request))
        except Exception:  # noqa: BLE001  (the catalog itself is unreadable: a page without navigation)
            return HTMLResponse(f"<!doctype html><title>{title}</title><h1>{title}</h1>", status_code=status)

    # Every failure of a page becomes its error page inside the route (an Exception handler would answer from
    # Starlette's error middleware, which re-raises: the server would then drop the keep-alive connection).
    shop.router.route_class = contained(failed)
    shop.add_exception_handler(HTTPException, failed)  # unknown shop routes, wrong methods

    @shop.get("/")
    def catalog(request: Request) -> HTMLResponse:
        q = request.query_params.get("q", "").strip()[:200]
        raw_cat, raw_page = request.query_params.get("category", ""), request.query_params.get("page", "1")
        number = int(raw_page) if raw_page.isdigit() and 0 < int(raw_page) < 10_000 else 1
        category = rt.catalog.category(int(raw_cat)) if raw_cat.isdigit() else None
        if q:  # the engine's text search, through the widget: its list, impressions and clicks are logged
            products, total = [], None
        else:
            listing = rt.catalog.list_products(category.id if category else None, active_only=True, limit=PAGE,
                                               offset=(number - 1) * PAGE)
            products, total = listing.items, listing.total
        pages = max(1, math.ceil(total / PAGE)) if total is not None else 1
        children = [rt.catalog.category(c) for c in category.children] if category else []
        return page(request, "catalog.html", q=q, category=category, children=[c for c in children if c.total],
                    products=[(p, image(p, request)) for p in products], number=number, pages=pages,
                    link=lambda n: "?" + urlencode({"category": category.id, "page": n} if category else {"page": n}))

    @shop.get("/product/{sku:path}")
    def product(request: Request, sku: str) -> HTMLResponse:
        token = request.query_params.get("preview")
        if token is not None:
            tokens.verify(service.settings, token)
        c = card(sku)
        rid, pos = request.query_params.get("list", ""), request.query_params.get("pos", "")
        return page(request, "product.html", product=c, photo=image(c, request), preview=token,
                    list_id=rid if lists_token(rid) else "", pos=pos if pos.isdigit() and len(pos) < 6 else "")

    @shop.get("/lang/{code}")
    def language(request: Request, code: str) -> Response:
        back = request.headers.get("referer", "")
        target = "/shop/" + back.split("/shop/", 1)[1] if "/shop/" in back else "/shop/"
        response = RedirectResponse(target if code in LANGUAGES else "/shop/", status_code=303)
        if code in LANGUAGES:
            response.set_cookie("vitrina_lang", code, path="/", samesite="lax")
        return response

    async def form(request: Request) -> dict[str, str]:
        body = await read_body(request, MAX_FORM_BYTES, "the form")
        try:
            parsed = parse_qs(body.decode("utf-8"), max_num_fields=20, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise ValidationError("the form is not valid") from None
        return {k: v[0] for k, v in parsed.items()}

    @shop.post("/cart")
    async def add_to_cart(request: Request) -> Response:
        fields = await form(request)
        sku, qty = fields.get("sku", ""), fields.get("quantity", "1")
        if not qty.isdigit() or not 1 <= int(qty) <= cart.MAX_LINE_QUANTITY:
            raise ValidationError(f"the quantity must be a whole number from 1 to {cart.MAX_LINE_QUANTITY}")
        c = await run_in_threadpool(card, sku)
        rid, pos = fields.get("list", ""), fields.get("pos", "")
        line = cart.Line(c.sku, int(qty), rid if lists_token(rid) and pos.isdigit() else None,
                         int(pos) if lists_token(rid) and pos.isdigit() and len(pos) < 6 else None)
        who = cart.shopper(request)
        await run_in_threadpool(cart.record, service, "cart_add", who, line, c.price)
        response = RedirectResponse("/shop/cart", status_code=303)
        cart.write_cart(response, cart.added(cart.read_cart(request), line))
        return cart.set_cookies(response, who)

    @shop.post("/cart/remove")
    async def remove(request: Request) -> Response:
        sku = (await form(request)).get("sku", "")
        response = RedirectResponse("/shop/cart", status_code=303)
        return cart.write_cart(response, [x for x in cart.read_cart(request) if x.sku != sku])

    def priced(request: Request) -> list[tuple[cart.Line, ProductCard]]:
        out = []
        for line in cart.read_cart(request):
            try:
                out.append((line, card(line.sku)))
            except NotFound:
                continue  # sold out of the catalog since: not offered
        return out

    @shop.get("/cart")
    def show_cart(request: Request) -> HTMLResponse:
        rows = priced(request)
        return page(request, "cart.html", rows=rows, total=sum(c.price * x.quantity for x, c in rows),
                    order=secrets.token_hex(8))

    @shop.post("/checkout")
    async def checkout(request: Request) -> Response:
        order = (await form(request)).get("order", "")
        if not (order.isalnum() and len(order) <= 32):
            raise ValidationError("the order is not valid: open the cart again")
        rows = await run_in_threadpool(priced, request)
        if not rows:
            return RedirectResponse("/shop/cart", status_code=303)
        who = cart.shopper(request)
        for i, (line, c) in enumerate(rows):
            await run_in_threadpool(cart.record, service, "purchase", who, line, c.price, f"order-{order}-{i}")
        response = page(request, "done.html", rows=rows, order=order,
                        total=sum(c.price * x.quantity for x, c in rows))
        return cart.write_cart(response, [])

    @shop.get("/preview/{kind}/")
    def preview_list(request: Request, kind: str) -> JSONResponse:
        try:
            tokens.verify(service.settings, request.query_params.get("token", ""))
        except ValidationError as e:
            return JSONResponse({"error": "Forbidden", "message": str(e), "request_id": request_id(request)},
                                status_code=403)
        raw = request.query_params.get("limit") or request.query_params.get("per_relation") or "12"
        n = min(int(raw), PREVIEW_LIMIT) if raw.isdigit() and int(raw) > 0 else 12
        try:
            body = draft_list(service, request, kind, request.query_params.get("product", ""), n)
        except VitrinaError as e:
            status = 404 if isinstance(e, NotFound) else 400 if isinstance(e, ValidationError) else 503
            return JSONResponse({"error": type(e).__name__, "message": str(e), "request_id": request_id(request)},
                                status_code=status)
        return JSONResponse(body)

    return shop


def contained(failed: Callable[[Request, Exception], Awaitable[Response]]) -> type[APIRoute]:
    """A route class whose handler answers any exception with `failed`'s page."""

    class ContainedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handle = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handle(request)
                except Exception as exc:  # noqa: BLE001  (answered as a page, logged by `failed`)
                    return await failed(request, exc)

            return answer

    return ContainedRoute


def lists_token(value: str) -> bool:
    """Whether a list id from a link or form can be a request id (else it is dropped, not passed on)."""
    return bool(value) and REQUEST_ID.fullmatch(value) is not None


def service_root(request: Request) -> str:
    """The service's base URL (a page of the mounted shop has /shop/ as its own)."""
    base = str(request.base_url)
    return base[:-len("shop/")] if base.endswith("/shop/") else base


def draft_list(service: Service, request: Request, kind: str, sku: str, n: int) -> dict[str, Any]:
    """A widget's list as the shared draft ranks it (the API's shape, `preview`: true, never logged)."""
    rec = service.runtime.recommender(ConfigWorkflow(service.runtime).draft().config)
    if kind in ("similar", "look", "fbt"):
        source = rec.card(sku)
    if kind == "similar":
        items, algorithm, strategy = rec.similar(source.id, n=n), "vector_combined", rec.config.default_strategy
    elif kind == "look":
        items, algorithm, strategy = rec.complete_the_look(source.id, n_per_relation=n), "complete_the_look", None
    elif kind == "fbt":
        items, algorithm, strategy = rec.frequently_bought_together(source.id, n=n).items, "fbt", None
    elif kind in ("trending", "personalized"):
        items, algorithm, strategy = rec.trending(n), "trending", None
    else:
        raise NotFound(f"no widget {kind!r} (known: {', '.join(WIDGET_KINDS)})")
    listing = lists.rendered(service, items, algorithm, strategy=strategy)
    base = service_root(request)
    return {"items": [{**it, "image": absolute(it["image"], base)} for it in listing.items],
            "algorithm": algorithm, "strategy": strategy, "config_version": None, "cached": False,
            "request_id": f"preview-{secrets.token_hex(8)}", "preview": True}
