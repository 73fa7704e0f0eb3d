"""The event log: what shoppers saw and did with recommendations, written by the API/simulator or imported.

Every click, cart add and purchase carries the algorithm, strategy and (for experiments) variant of the list it
came from, so the analytics attribute outcomes with a plain GROUP BY and no session replay.

This module holds the record (`Event`), its validation and the idempotent insert every writer shares; reading
event files (CSV, JSONL, OTTO) lives in engine.insights.event_import, which builds on it.
"""
from __future__ import annotations

import json
import math
import numbers
import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from engine.catalog.db import Database
from engine.catalog.events import EventRow, day_number
from engine.catalog.importers.limits import unstorable
from engine.errors import ValidationError

# `served`: a list the service answered (one row per item shown); `impression`: a tile a shopper's browser
# reported visible (the storefront widget). CTR states which of the two it divides by.
EVENT_KINDS = ("served", "impression", "click", "cart_add", "purchase")
SHOPPER_KINDS = EVENT_KINDS[1:]  # what a client may post: `served` rows are the service's own
PRICED_KINDS = ("cart_add", "purchase")
MAX_PRICE = 10_000_000.0  # a unit price above this is a unit or typing error, never revenue
MAX_QUANTITY = 10_000
REQUEST_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")  # fits events.request_id (String(64))
ALGORITHMS = ("vector_text", "vector_image", "vector_combined", "personalised", "complete_the_look", "trending",
              "search_text", "search_image", "fbt")  # the engine's own; other identifier-like names are accepted
MAX_QUERY_CHARS = 2000
ALGORITHM_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,32}")  # fits events.algorithm (String(32))
MAX_INT, MAX_BIGINT = 2 ** 31 - 1, 2 ** 63 - 1  # events.position is INTEGER, the product ids BIGINT
_LIMITS = {"user_id": 128, "session_id": 128, "strategy": 64, "experiment": 128, "variant": 64, "external_id": 128}

def to_utc_naive(ts: datetime) -> datetime:
    """The log stores naive UTC; an aware time is converted, a naive one is taken as UTC already."""
    if not isinstance(ts, datetime):
        raise ValidationError(f"ts must be a datetime, got {ts!r}")
    return ts.astimezone(timezone.utc).replace(tzinfo=None) if ts.tzinfo is not None else ts


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class Event:
    """One shopper action. `product_id` is the recommended or acted-on product; `position` is 0-based."""

    kind: str
    session_id: str
    product_id: int
    ts: datetime | None = None  # None = now
    user_id: str | None = None
    source_product_id: int | None = None
    query: str | None = None
    algorithm: str | None = None
    strategy: str | None = None
    position: int | None = None
    score: float | None = None
    filters: dict | None = None
    experiment: str | None = None
    variant: str | None = None
    simulated: bool = False
    external_id: str | None = None
    config_version: int | None = None  # the live config version that served the list (1, 2, ...)
    request_id: str | None = None  # the server-issued id of the list the event belongs to
    price: float | None = None  # unit price of a cart add or purchase; None = unknown (not revenue)
    quantity: int | None = None  # units of a cart add or purchase

    def validate(self) -> "Event":
        """Raise ValidationError naming the first bad field; normalise types in place."""
        if self.kind not in EVENT_KINDS:
            raise ValidationError(f"unknown event kind {self.kind!r}: use one of {', '.join(EVENT_KINDS)}")
        self.ts = utc_now() if self.ts is None else to_utc_naive(self.ts)
        if not isinstance(self.session_id, str) or not self.session_id.strip():
            raise ValidationError("session_id must be a non-empty string")
        self.product_id = whole_number(self.product_id, "product_id", minimum=0, maximum=MAX_BIGINT)
        if self.source_product_id is not None:
            self.source_product_id = whole_number(self.source_product_id, "source_product_id", minimum=0,
                                            maximum=MAX_BIGINT)
        if self.position is not None:
            self.position = whole_number(self.position, "position", minimum=0, maximum=MAX_INT)
        self.config_version = valid_config_version(self.config_version)
        if self.score is not None:
            self.score = finite_score(self.score)
        self._check_money()
        if self.request_id is not None and (not isinstance(self.request_id, str)
                                            or not REQUEST_ID.fullmatch(self.request_id)):
            raise ValidationError(f"request_id must be the id of a served list (letters, digits, _.:-, at most "
                                  f"64 characters), got {self.request_id!r}")
        for name, limit in _LIMITS.items():
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v or len(v) > limit):
                raise ValidationError(f"{name} must be a non-empty string of at most {limit} characters, got {v!r}")
        for name in ("query", "algorithm", *_LIMITS):  # a NUL or a lone surrogate: the databases cannot store it
            if isinstance(v := getattr(self, name), str) and (reason := unstorable(v, name)):
                raise ValidationError(reason)
        if self.algorithm is not None and (not isinstance(self.algorithm, str)
                                           or not ALGORITHM_NAME.fullmatch(self.algorithm)):
            raise ValidationError(f"algorithm must be a short identifier such as {ALGORITHMS[0]}, "
                                  f"got {self.algorithm!r}")
        if self.query is not None:
            if not isinstance(self.query, str):
                raise ValidationError(f"query must be text, got {self.query!r}")
            if len(self.query) > MAX_QUERY_CHARS:
                raise ValidationError(f"query is longer than {MAX_QUERY_CHARS} characters")
        if self.filters is not None:
            if not isinstance(self.filters, dict):
                raise ValidationError(f"filters must be a JSON object, got {self.filters!r}")
            try:
                json.dumps(self.filters, allow_nan=False)
                reason = unstorable(self.filters, "filters")
            except (TypeError, ValueError, RecursionError) as e:
                raise ValidationError(f"filters are not JSON-serialisable: {e}") from None
            if reason:
                raise ValidationError(reason)
        if (self.variant is None) != (self.experiment is None):
            raise ValidationError("experiment and variant go together: give both or neither")
        return self

    def _check_money(self) -> None:
        """Price and quantity only on cart adds and purchases; a price that is not a finite number in
        [0, MAX_PRICE] or a quantity outside [1, MAX_QUANTITY] is refused (never counted as revenue)."""
        if self.kind not in PRICED_KINDS:
            for name in ("price", "quantity"):
                if getattr(self, name) is not None:
                    raise ValidationError(f"{name} belongs to cart_add and purchase events, not {self.kind}")
            return
        if self.price is not None:
            if isinstance(self.price, bool) or not isinstance(self.price, numbers.Real):
                raise ValidationError(f"price must be a number, got {self.price!r}")
            price = float(self.price)
            if not math.isfinite(price) or price < 0:
                raise ValidationError(f"price must be a finite number of at least 0, got {self.price!r}")
            if price > MAX_PRICE:
                raise ValidationError(f"price {price:g} is above {MAX_PRICE:,.0f}: a unit or typing error?")
            self.price = price
        if self.quantity is not None:
            self.quantity = whole_number(self.quantity, "quantity", minimum=1, maximum=MAX_QUANTITY)

    def to_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in _EVENT_FIELDS}
        row["simulated"] = 1 if self.simulated else 0
        return row


_EVENT_FIELDS = tuple(f.name for f in fields(Event))
_INT_RE = re.compile(r"[+-]?\d+")


def whole_number(v: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int from an int, an integral float, a digit string or a numpy integer, within the bounds: file
    imports hand ids over as text, the API as JSON numbers, and both must land as the same BIGINT."""
    if isinstance(v, bool):
        raise ValidationError(f"{name} must be a whole number, got {v!r}")
    if isinstance(v, float):
        if not v.is_integer():
            raise ValidationError(f"{name} must be a whole number, got {v!r}")
        v = int(v)
    elif isinstance(v, str):
        s = v.strip()
        if not _INT_RE.fullmatch(s):
            raise ValidationError(f"{name} must be a whole number, got {v!r}")
        v = int(s)
    elif not isinstance(v, int):
        try:
            v = int(v.__index__())  # numpy integers
        except (AttributeError, TypeError):
            raise ValidationError(f"{name} must be a whole number, got {v!r}") from None
    if minimum is not None and v < minimum:
        raise ValidationError(f"{name} must be at least {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValidationError(f"{name} must be at most {maximum}, got {v}")
    return v


def finite_score(v: Any) -> float:
    """A score as the log stores it: a finite float (numpy floats too)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValidationError(f"score must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ValidationError(f"score must be a finite number, got {v}")
    return v


ITEM_COLUMNS = ("product_id", "position", "score")  # what differs between the impressions of one list


LIST_KINDS = ("served", "impression")  # the per-item rows of a list: what the service sent, what was seen


def impression_parts(served: Sequence[tuple[int, int, float]], *, session_id: str, algorithm: str,
                     ts: datetime | None = None, kind: str = "served", **context: Any
                     ) -> tuple[dict[str, Any], list[tuple]]:
    """One served list validated: its shared row (Event.to_row() shape, with `day`; the context is the other
    keyword arguments of EventLog.log_impressions, validated once) and each item's (product_id, position,
    score)."""
    if isinstance(served, (str, bytes)) or not isinstance(served, Sequence):
        raise ValidationError("served must be a list of (product_id, position, score)")
    if kind not in LIST_KINDS:
        raise ValidationError(f"a list's rows are of kind {' or '.join(LIST_KINDS)}, got {kind!r}")
    shared = Event(kind, session_id, 0, ts=utc_now() if ts is None else ts, algorithm=algorithm,
                   **context).validate().to_row()
    shared["day"] = day_number(shared["ts"])
    items = []
    for i, item in enumerate(served):
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise ValidationError(f"served item {i} must be (product_id, position, score), got {item!r}")
        pid, pos, score = item
        try:
            items.append((whole_number(pid, "product_id", minimum=0, maximum=MAX_BIGINT),
                          None if pos is None else whole_number(pos, "position", minimum=0, maximum=MAX_INT),
                          None if score is None else finite_score(score)))
        except ValidationError as err:
            raise ValidationError(f"served item {i}: {err}") from None
    return shared, items


def valid_config_version(v: Any) -> int | None:
    """A config version as the log stores it: None (served before versions existed, or unknown) or a whole
    number ≥ 1, since published versions are numbered from 1; anything else is refused."""
    if v is None:
        return None
    try:
        return whole_number(v, "config_version", minimum=1, maximum=MAX_INT)
    except ValidationError as e:
        raise ValidationError(f"{e}: a config version is a published version number (1, 2, ...) or "
                              "absent") from None


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert validated rows (Event.to_row() shape), skipping external ids already stored or repeated in the
    batch. Returns (inserted, duplicates). Rows without an external_id are always new."""
    if not rows:
        return 0, 0
    for i, r in enumerate(rows):
        r["day"] = day_number(r["ts"])
        try:  # every row gets the key: one multi-row INSERT needs the same columns in all of them
            r["config_version"] = valid_config_version(r.get("config_version"))
        except ValidationError as e:
            raise ValidationError(f"row {i}: {e}") from None
    seen: set[str] = set()
    keyed = [r["external_id"] for r in rows if r["external_id"] is not None]
    existing: set[str] = set()
    for i in range(0, len(keyed), 500):
        chunk = keyed[i:i + 500]
        existing.update(conn.execute(select(EventRow.external_id).where(EventRow.external_id.in_(chunk))).scalars())
    fresh = []
    for r in rows:
        key = r["external_id"]
        if key is not None:
            if key in existing or key in seen:
                continue
            seen.add(key)
        fresh.append(r)
    if fresh:
        conn.execute(insert(EventRow), fresh)
    return len(fresh), len(rows) - len(fresh)


def _sqlite_value(v: Any) -> Any:
    """A value as SQLAlchemy's SQLite types store it: datetimes as ISO text with microseconds, JSON as text."""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return v


def _insert_sqlite(conn: Any, parts: list[tuple[dict[str, Any], list[tuple]]]) -> None:
    """One executemany of plain tuples through the driver, each list's shared values converted once: the rows
    are validated already, and SQLAlchemy's per-row parameter processing cost more than SQLite's own work (the
    impression writer's hot path). The rows read back through SQLAlchemy exactly as rows inserted by
    `insert(EventRow)` (tests/service/test_impressions.py)."""
    shared_cols = [c for c in parts[0][0] if c not in ITEM_COLUMNS]
    cols = shared_cols + list(ITEM_COLUMNS)
    rows = []
    for shared, items in parts:
        prefix = tuple(_sqlite_value(shared[c]) for c in shared_cols)
        rows.extend(prefix + item for item in items)
    conn.exec_driver_sql(f"INSERT INTO {EventRow.__tablename__} ({', '.join(cols)}) "
                         f"VALUES ({', '.join('?' for _ in cols)})", rows)


class EventLog:
    """Writes events in one transaction per call: a call with any invalid event writes nothing."""

    def __init__(self, db: Database):
        self.db = db

    def log(self, *events: Event) -> int:
        return self.log_many(events)

    def log_many(self, events: Iterable[Event]) -> int:
        """Validate all, then insert; events whose external_id is already stored are skipped (retries are safe).
        Returns the number written."""
        rows = []
        for i, e in enumerate(events):
            if not isinstance(e, Event):
                raise ValidationError(f"item {i} is not an Event: {e!r}")
            try:
                rows.append(e.validate().to_row())
            except ValidationError as err:
                raise ValidationError(f"event {i}: {err}") from None
        with self.db.engine.begin() as conn:
            return insert_rows(conn, rows)[0]

    def log_impressions(self, served: Sequence[tuple[int, int, float]], *, session_id: str,
                        algorithm: str, user_id: str | None = None, strategy: str | None = None,
                        source_product_id: int | None = None, query: str | None = None,
                        filters: dict | None = None, experiment: str | None = None, variant: str | None = None,
                        ts: datetime | None = None, simulated: bool = False,
                        config_version: int | None = None, request_id: str | None = None,
                        kind: str = "served") -> int:
        """One row per served (product_id, position, score), sharing the list's context, request id and
        timestamp: kind `served` for what the service answered (its own record of every list), `impression`
        for tiles a client reported visible."""
        if isinstance(served, (str, bytes)) or not isinstance(served, Sequence):
            raise ValidationError("served must be a list of (product_id, position, score)")
        if kind not in LIST_KINDS:
            raise ValidationError(f"a list's rows are of kind {' or '.join(LIST_KINDS)}, got {kind!r}")
        ts = utc_now() if ts is None else ts
        events = []
        for i, item in enumerate(served):
            if not isinstance(item, (tuple, list)) or len(item) != 3:
                raise ValidationError(f"served item {i} must be (product_id, position, score), got {item!r}")
            pid, pos, score = item
            events.append(Event(kind, session_id, pid, ts=ts, user_id=user_id, request_id=request_id,
                                source_product_id=source_product_id, query=query, algorithm=algorithm,
                                strategy=strategy, position=pos, score=score, filters=filters,
                                experiment=experiment, variant=variant, simulated=simulated,
                                config_version=config_version))
        return self.log_many(events)

    def log_impression_lists(self, lists: Sequence[dict[str, Any]]) -> tuple[int, list[tuple[int, Exception]]]:
        """Many served lists (each the keyword arguments of `log_impressions`) in ONE transaction: one
        executemany INSERT of all their rows. A list that fails validation is left out and reported as
        (its index, the error); the others are written. Returns (rows written, rejected lists)."""
        parts: list[tuple[dict[str, Any], list[tuple]]] = []
        rejected: list[tuple[int, Exception]] = []
        for i, job in enumerate(lists):
            try:
                parts.append(impression_parts(**job))
            except (ValidationError, TypeError) as e:
                rejected.append((i, e))
        parts = [p for p in parts if p[1]]
        if parts:
            with self.db.engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    _insert_sqlite(conn, parts)
                else:
                    conn.execute(insert(EventRow), [{**shared, **dict(zip(ITEM_COLUMNS, item))}
                                                    for shared, items in parts for item in items])
        return sum(len(items) for _, items in parts), rejected

    def count(self, simulated: bool | None = None) -> int:
        q = select(func.count()).select_from(EventRow)
        if simulated is not None:
            q = q.where(EventRow.simulated == (1 if simulated else 0))
        with self.db.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())
