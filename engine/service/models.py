"""The HTTP API's data as pydantic models. Each shape is declared once and serves three ends: FastAPI
validates requests against it, serialises responses through it and writes /openapi.json from it, so what
the document promises, what is accepted and what is sent cannot drift apart. Cached lists are kept as
`engine.cache.CachedList` (the engine's own records) and become these `Item`s when served.

Messages a model raises name only the field's problem ("has an empty value"): engine.service.errors puts
the field's name and place ("event 2: ts ...") in front, the same way for every field and route."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import UploadFile
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, WithJsonSchema,
                      model_validator)
from pydantic_core import PydanticCustomError

from engine.insights.events import (ALGORITHM_NAME, MAX_PRICE, MAX_QUANTITY, MAX_QUERY_CHARS, REQUEST_ID, SHOPPER_KINDS,
                                    to_utc_naive, utc_now)
from engine.recommend.fbt import SOURCE_CO_PURCHASE, SOURCE_LOOK, SOURCE_MIXED
from engine.recommend.personal import SERVED_COLD_START, SERVED_DISABLED, SERVED_PERSONALISED
from engine.text import MAX_ID, key_problem, text_problem
from engine.types import Recommendation

MAX_TEXT = 128  # user_id, session_id, product keys: the event log's column widths
MAX_LIST_ITEMS = 50  # values of one list parameter (color, not_like)
MAX_EVENTS_PER_REQUEST = 1000
MAX_EVENT_AGE = timedelta(days=365 * 5)
MAX_CLOCK_SKEW = timedelta(minutes=5)
TOKEN = r"^[A-Za-z0-9._:\-]{1,64}$"  # request ids and event ids: safe in logs, headers and keys
TOO_LARGE = "too_large"  # the error type of a body with too many items: a 413, not a 400
MAX_JSON_DEPTH = 8  # an event's free-form filters: deep enough for any real filter set


# ---------------------------------------------------------------- parameter types

def clean_text(value: Any) -> Any:
    """Text without NUL or lone surrogates (engine.text); other values are left to the field's type.
    Runs before pydantic's own string check, so every entry point words the refusal alike."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


def product_text(value: Any) -> Any:
    """A product id or SKU as text: clean, and, when all digits, a possible product id."""
    if isinstance(value, str):
        problem = key_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


def _clean_json(value: Any, depth: int = 0) -> Any:
    """Free-form JSON (an event's filters): every key and string clean, nested at most MAX_JSON_DEPTH deep."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, dict):
        for k, v in value.items():
            clean_text(k)
            _clean_json(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _clean_json(v, depth + 1)
    else:
        clean_text(value)
    return value


Clean = BeforeValidator(clean_text)
ProductText = BeforeValidator(product_text)


def _values(raw: list[str] | None) -> list[str] | None:
    """A list parameter repeated (color=red&color=blue) or comma-separated (color=red,blue), or both."""
    if raw is None:
        return None
    values = [v.strip() for r in raw for v in r.split(",")]
    if any(not v for v in values):
        raise ValueError("has an empty value")
    for v in values:
        clean_text(v)
    if len(values) > MAX_LIST_ITEMS:
        raise ValueError(f"has {len(values)} values; the limit is {MAX_LIST_ITEMS}")
    return values


Values = Annotated[list[str] | None, AfterValidator(_values)]


def _product_values(raw: list[str] | None) -> list[str] | None:
    values = _values(raw)
    for v in values or ():
        product_text(v)
    return values


ProductValues = Annotated[list[str] | None, AfterValidator(_product_values)]


# ---------------------------------------------------------------- responses

class Item(BaseModel):
    """One product of a list, as a storefront shows it."""

    id: int
    sku: str
    title: str
    price: float
    colour: str | None = None
    category: str | None = None
    category_path: str | None = None
    image: str | None = Field(None, description="URL of the main photo: the catalog's own http(s) URL, or this "
                                                "service's /media/ route for a photo in the catalog folder; null "
                                                "when the product has no servable photo.")
    score: float
    reasons: list[str]
    rank: int = Field(description="1 for the first item.")
    vector: str = Field(description="text, image, combined, trending or fbt")
    relation: str | None = Field(None, description="Complete the look: the relation the item fills (shoes, bag…).")

    @classmethod
    def of(cls, rec: Recommendation, image: str | None) -> Item:
        p = rec.product
        return cls(id=p.id, sku=p.sku, title=p.title, price=p.price, colour=p.colour, category=p.category,
                   category_path=p.category_path, image=image, score=rec.score, reasons=list(rec.reasons),
                   rank=rec.rank, vector=rec.vector, relation=rec.relation)


class RecommendationList(BaseModel):
    items: list[Item]
    algorithm: str
    strategy: str | None
    config_version: int | None = Field(description="The published config version that ranked the list.")
    cached: bool = Field(description="Served from the response cache.")
    request_id: str


class PhotoList(RecommendationList):
    match: Literal["good", "loose"] = Field(description=(
        'Search by photo: "good" when the top item matches the photo (its local features agree on one perspective, '
        'or its photo is close enough); "loose" when nothing in the catalog matches well, so the items are only '
        'loosely related (each item\'s reasons then start with "loosely related").'))


class QueryAttribute(BaseModel):
    kind: Literal["colour", "gender", "category", "price"]
    value: str
    label: str = Field(description='How the console shows it as a chip, e.g. "colour: black".')


class TextList(RecommendationList):
    query: str
    match: Literal["good", "loose"] = Field(description=(
        'Search by text: "good" when the query\'s confidence reaches the config\'s threshold; "loose" when nothing '
        'matches well (nonsense or a product the catalog does not carry), so the items are only loosely related.'))
    attributes: list[QueryAttribute] = Field(description=(
        "What was read from the query and held the results to (colour, gender, category, price)."))


class ProfileSummary(BaseModel):
    events: int
    price_band: tuple[float, float] | None = None
    categories: dict[str, float] = Field(description="Leaf category id → share of the shopper's interest.")


class PersonalisedList(RecommendationList):
    served: Literal[SERVED_PERSONALISED, SERVED_COLD_START, SERVED_DISABLED]
    reason: str
    profile: ProfileSummary | None = None


class FBTList(RecommendationList):
    source: Literal[SOURCE_CO_PURCHASE, SOURCE_MIXED, SOURCE_LOOK]
    reason: str
    baskets: int = Field(description="Baskets holding the source product.")


class Refusal(BaseModel):
    """One event of a batch that was not stored, while the others were."""

    event: int = Field(description="Its place in the body's list, from 0.")
    error: str = Field(description=("NotFound: it names a product the catalog does not hold, or a list the "
                                    "service did not serve; ValidationError: it does not fit its list (position, "
                                    "product, algorithm…); Duplicate: its tile's impression or click is logged."))
    message: str


class EventsResult(BaseModel):
    received: int
    inserted: int
    duplicates: int = Field(description="Events whose event_id was already logged: skipped.")
    refused: list[Refusal] = Field(default_factory=list, description=(
        "Events naming an unknown product: not stored; the rest of the batch is."))
    request_id: str


class NotLike(BaseModel):
    user_id: str
    not_like: list[int] = Field(description="Product ids, most recent first.")
    request_id: str


class Health(BaseModel):
    """Present only when they apply: products, backend, index_version and encoders when the index is usable,
    error when it is not."""

    status: Literal["ok", "unavailable"]
    config_version: int = Field(description="The live published config version this service serves.")
    config_fingerprint: str
    config_error: str | None = Field(description="Why the newest published version is not the one in use.")
    cache: dict[str, Any]
    impressions: dict[str, int] = Field(description="Lists queued, written, dropped and failed.")
    cards: dict[str, int | bool] = Field(description="Product cards in memory, and whether the start-up read of "
                                                     "every card is still running.")
    hit_path: dict[str, int] = Field(description=(
        "Checked list URLs remembered, and the requests answered from the cache by repeating one of them "
        "(engine.service.hits)."))
    products: int | None = None
    backend: str | None = None
    index_version: str | None = None
    encoders: dict[str, str] | None = None
    error: str | None = None
    request_id: str


class Error(BaseModel):
    """Every 4xx and 5xx answer."""

    error: str = Field(description="ValidationError, NotFound, PayloadTooLarge, HTTPError, VitrinaError, …")
    message: str
    request_id: str
    errors: list[str] | None = Field(None, description="Every problem, when there is more than one.")


# ---------------------------------------------------------------- request bodies

def _event_ts(value: Any) -> Any:
    """ISO 8601 text or epoch milliseconds, as naive UTC; not in the future, at most five years old."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if not 946_684_800_000 <= value < 10 ** 14:
            raise ValueError(f"{value} is not epoch milliseconds after 2000")
        ts = datetime(1970, 1, 1) + timedelta(milliseconds=value)
    elif isinstance(value, str):
        try:
            ts = to_utc_naive(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            raise ValueError(f"{value!r} is not ISO 8601") from None
    else:
        raise ValueError(f"must be ISO 8601 text or epoch milliseconds, got {value!r}")
    now = utc_now()
    if ts > now + MAX_CLOCK_SKEW:
        raise ValueError(f"{ts.isoformat()} is in the future")
    if ts < now - MAX_EVENT_AGE:
        raise ValueError(f"{ts.isoformat()} is more than five years old; import old logs with "
                         f"`python -m engine import-events`")
    return ts


Timestamp = Annotated[datetime | None, BeforeValidator(_event_ts), WithJsonSchema({
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "description": "epoch milliseconds"}],
    "description": "Default: now; not in the future, at most five years old."})]
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]  # the product ids are BIGINT
# Optional text: the constraints sit on the text itself, so an explicit null is "absent" (constraints on the
# whole `str | None` made pydantic raise TypeError on null: a 500 for `"user_id": null`).
Key = Annotated[Annotated[str, Field(min_length=1, max_length=MAX_TEXT), Clean] | None, Field()]  # column widths
Label = Annotated[Annotated[str, Field(min_length=1, max_length=64), Clean] | None, Field()]


class EventIn(BaseModel):
    """One shopper event. Give product_id or sku, exactly one."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[SHOPPER_KINDS]
    session_id: Annotated[str, Clean, Field(min_length=1, max_length=MAX_TEXT)]
    product_id: Id | None = None
    sku: Annotated[str, Field(min_length=1, max_length=MAX_TEXT), ProductText] | None = None
    ts: Timestamp = None
    user_id: Key = None
    source_product_id: Id | None = None
    query: Annotated[str, Field(max_length=MAX_QUERY_CHARS), Clean] | None = None
    algorithm: Annotated[str | None, Field(pattern=f"^{ALGORITHM_NAME.pattern}$")] = None
    strategy: Label = None
    position: Annotated[StrictInt | None, Field(ge=0, le=2 ** 31 - 1)] = None
    score: Annotated[float | None, Field(strict=True, allow_inf_nan=False)] = None
    filters: Annotated[dict[str, Any] | None, BeforeValidator(_clean_json)] = None
    experiment: Key = None
    variant: Label = None
    config_version: Annotated[StrictInt | None, Field(ge=1, le=2 ** 31 - 1, description=(
        "The config_version of the list the shopper acted on (echo it from the list's response); left out: "
        "the version the service serves now."))] = None
    event_id: Annotated[str | None, Field(pattern=TOKEN, description="Idempotency key: an event_id already "
                                                                      "logged is skipped.")] = None
    request_id: Annotated[str | None, Field(pattern=f"^{REQUEST_ID.pattern}$", description=(
        "The request_id of the list the shopper acted on (echo it from the list's response)."))] = None
    price: Annotated[float | None, Field(strict=False, allow_inf_nan=False, ge=0, le=MAX_PRICE, description=(
        "Unit price of a cart_add or purchase, in the catalog's currency."))] = None
    quantity: Annotated[StrictInt | None, Field(ge=1, le=MAX_QUANTITY, description=(
        "Units of a cart_add or purchase."))] = None

    @model_validator(mode="before")
    @classmethod
    def _session(cls, data: Any) -> Any:
        # The log groups everything by session, so its absence is named as the event log itself names it.
        if isinstance(data, dict) and not (isinstance(data.get("session_id"), str) and data["session_id"].strip()):
            raise ValueError("session_id must be a non-empty string")
        return data

    @model_validator(mode="after")
    def _one_product(self) -> EventIn:
        if (self.product_id is None) == (self.sku is None):
            raise ValueError("give product_id or sku (exactly one)")
        return self


def _one_or_many(value: Any) -> Any:
    """A client logging one event sends the object itself; the log always takes a batch."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        if not value:
            raise ValueError("the body is an empty list: send one event or a list of events")
        if len(value) > MAX_EVENTS_PER_REQUEST:
            raise PydanticCustomError(TOO_LARGE, "{count} events in one request; the limit is {limit}",
                                      {"count": len(value), "limit": MAX_EVENTS_PER_REQUEST})
    return value


class _OneOrMany:
    """Documents the events body as it is accepted: one event, or a list of them."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        many = handler(core_schema)
        return {"oneOf": [many["items"], {**many, "minItems": 1, "maxItems": MAX_EVENTS_PER_REQUEST}]}


Events = Annotated[list[EventIn], BeforeValidator(_one_or_many), _OneOrMany()]


def _product_key(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or isinstance(value, str) and not value.strip():
        raise ValueError(f"must be a product id (a whole number) or a SKU (text), got {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= MAX_ID:
            raise ValueError(f"must be a product id between 1 and {MAX_ID}, got {value}")
        return value
    return product_text(value).strip()


class NotLikeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Annotated[int | str, BeforeValidator(_product_key), Field(description="Product id or SKU.")]


class ImageForm(BaseModel):
    """The search-by-image upload: the multipart field "image" and nothing else."""

    model_config = ConfigDict(extra="forbid")

    image: UploadFile = Field(description="JPEG, PNG, WebP or GIF, at most VITRINA_MAX_UPLOAD_MB.")
