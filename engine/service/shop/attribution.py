"""Shopper events checked against the lists the service served, so a forged or replayed beacon cannot
inflate a click-through rate.

An event naming a list (its `request_id`) must name one this service served (the `served` rows its impression
writer logs under that request id), at a position of that list holding the event's product; the list's
algorithm, strategy, config version and source product are taken from those rows (a client's differing
value is refused, a missing one filled in). Impressions and clicks count once per (request id, position):
within a batch, against the log, and — for two beacons racing in two processes — through the row's
external id `list:<request id>:<position>:<kind>`, which the log's unique index refuses twice. An impression
always names its list: a tile a browser saw belongs to a served list. An event without a request id (a
click on the shop's own page, a purchase at checkout) may not claim an algorithm, strategy or position: only
a served list says those, so such an event never counts toward an algorithm's or strategy's rates.

Lists written by a release that logged each served item as an `impression` row with the request id inside
its filters are found too (through the product index), so beacons of lists served just before an upgrade
still count."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.catalog.events import EventRow
from engine.errors import NotFound, ValidationError
from engine.insights.events import Event

if TYPE_CHECKING:
    from engine.service.models import EventIn
    from engine.service.state import Service

ONCE_PER_TILE = ("impression", "click")  # what CTR divides and counts: one per (request id, position)
CONTEXT = ("algorithm", "strategy", "config_version", "source_product_id")  # the list's, on every event of it
# what only a served list can say of an event: without its request id a client may not claim them, so a forged
# click cannot count toward an algorithm's or strategy's click-through rate
LIST_CLAIMS = ("algorithm", "strategy", "position")
DUPLICATE = "Duplicate"
WRITER_WAIT_SECONDS = 2.0  # a list served a moment ago may still be in the impression writer's queue


@dataclass(frozen=True)
class Shown:
    """One item of a served list, as its `served` row records it."""

    product_id: int
    algorithm: str | None
    strategy: str | None
    config_version: int | None
    source_product_id: int | None


@dataclass(frozen=True)
class ServedList:
    items: dict[int, Shown]  # position → item
    complete: bool  # every position is known (False: an older writer's rows, looked up by product)


_COLUMNS = (EventRow.position, EventRow.product_id, EventRow.algorithm, EventRow.strategy, EventRow.config_version,
            EventRow.source_product_id)


def _shown(rows: Any) -> dict[int, Shown]:
    return {r.position: Shown(r.product_id, r.algorithm, r.strategy, r.config_version, r.source_product_id)
            for r in rows if r.position is not None}


def served_list(conn: Any, request_id: str, product_ids: set[int]) -> ServedList | None:
    """The list served under `request_id`, or None when no such list was logged."""
    rows = conn.execute(select(*_COLUMNS).where(EventRow.request_id == request_id, EventRow.kind == "served")).all()
    if rows:
        return ServedList(_shown(rows), True)
    legacy = conn.execute(select(*_COLUMNS).where(
        EventRow.product_id.in_(sorted(product_ids)), EventRow.kind == "impression", EventRow.request_id.is_(None),
        EventRow.filters["request_id"].as_string() == request_id)).all()
    return ServedList(_shown(legacy), False) if legacy else None


def already_logged(conn: Any, request_id: str) -> set[tuple[int, str]]:
    """(position, kind) of the impressions and clicks a shopper already reported for the list."""
    rows = conn.execute(select(EventRow.position, EventRow.kind).where(
        EventRow.request_id == request_id, EventRow.kind.in_(ONCE_PER_TILE))).all()
    return {(r.position, r.kind) for r in rows}


def _check(e: Event, given: EventIn, served: ServedList) -> Event:
    """The event with its list's context, or ValidationError saying how it does not fit that list."""
    rid = e.request_id
    if e.position is None:
        if e.kind in ONCE_PER_TILE:
            raise ValidationError(f"an {e.kind} of list {rid} needs its position in the list (from 0)")
        item = next((s for s in served.items.values() if s.product_id == e.product_id), None)
        if item is None:
            raise ValidationError(f"the list of request {rid} did not show product {e.product_id}")
    else:
        item = served.items.get(e.position)
        if item is None and served.complete:
            raise ValidationError(f"position {e.position} is outside the list of request {rid} "
                                  f"({len(served.items)} items: positions 0 to {len(served.items) - 1})")
        if item is None or item.product_id != e.product_id:
            shown = f"product {item.product_id}" if item is not None else "another product"
            raise ValidationError(f"the list of request {rid} showed {shown} at position {e.position}, "
                                  f"not product {e.product_id}")
    for name in CONTEXT:
        mine, theirs = getattr(given, name), getattr(item, name)
        if mine is not None and theirs is not None and mine != theirs:
            raise ValidationError(f"{name} {mine!r} is not that of the list of request {rid} ({theirs!r})")
        setattr(e, name, theirs if theirs is not None else getattr(e, name))
    if e.kind in ONCE_PER_TILE:
        e.external_id = f"list:{rid}:{e.position}:{e.kind}"
    return e


def attribute(service: Service, pending: list[tuple[int, EventIn, Event]]
              ) -> tuple[list[Event], list[tuple[int, str, str]]]:
    """The events to store, and the refused ones as (place in the batch, error name, reason)."""
    named = {e.request_id for _, _, e in pending if e.request_id is not None}
    products: dict[str, set[int]] = {}
    for _, _, e in pending:
        if e.request_id is not None:
            products.setdefault(e.request_id, set()).add(e.product_id)
    lists: dict[str, ServedList | None] = {}
    logged: dict[str, set[tuple[int, str]]] = {}
    if named:
        with service.events.db.engine.connect() as conn:
            for rid in sorted(named):
                lists[rid] = served_list(conn, rid, products[rid])
        missing = [rid for rid, found in lists.items() if found is None]
        if missing and service.impressions.flush(WRITER_WAIT_SECONDS):
            with service.events.db.engine.connect() as conn:
                for rid in missing:
                    lists[rid] = served_list(conn, rid, products[rid])
        with service.events.db.engine.connect() as conn:
            logged = {rid: already_logged(conn, rid) for rid, found in lists.items() if found is not None}
    kept: list[Event] = []
    refused: list[tuple[int, str, str]] = []
    for i, given, e in pending:
        rid = e.request_id
        if rid is None:
            claimed = [name for name in LIST_CLAIMS if getattr(given, name) is not None]
            if e.kind == "impression":
                refused.append((i, ValidationError.__name__, "an impression names the list its tile belongs to: "
                                                             "give the list's request_id and the tile's position"))
            elif claimed:
                refused.append((i, ValidationError.__name__, f"{', '.join(claimed)} describe a served list: give "
                                                             "that list's request_id (they are taken from it)"))
            else:
                kept.append(e)
            continue
        served = lists.get(rid)
        if served is None:
            refused.append((i, NotFound.__name__, f"request_id {rid} names no list this service served"))
            continue
        try:
            e = _check(e, given, served)
        except ValidationError as err:
            refused.append((i, ValidationError.__name__, str(err)))
            continue
        if e.kind in ONCE_PER_TILE:
            key = (e.position, e.kind)
            if key in logged[rid]:
                refused.append((i, DUPLICATE, f"the {e.kind} of position {e.position} of request {rid} is "
                                              "already logged"))
                continue
            logged[rid].add(key)
        kept.append(e)
    return kept, refused
