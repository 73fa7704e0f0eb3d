"""SQL tables of the event log and of A/B experiments, on the catalog's Base so one create_all makes them.

`events.product_id` deliberately has no foreign key: imported logs (OTTO, a shop's own export) carry ids of
products this catalog may not hold, and the analytics must still count them.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, delete, func, select, update)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.catalog.models import Base, utcnow


EPOCH = datetime(1970, 1, 1)


def day_number(ts: datetime) -> int:
    """UTC days since 1970-01-01: an integer the daily charts group by and date filters range over."""
    return (ts - EPOCH).days


def _day_default(context) -> int:
    return day_number(context.get_current_parameters()["ts"])


class EventRow(Base):
    """One shopper action on one product, with the recommendation list it came from (attribution)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime)  # naive UTC
    day: Mapped[int] = mapped_column(Integer, default=_day_default)  # day_number(ts), kept with every row
    kind: Mapped[str] = mapped_column(String(16))  # served | impression | click | cart_add | purchase
    user_id: Mapped[str | None] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(String(128))
    product_id: Mapped[int] = mapped_column(BigInteger)  # recommended / acted-on product (catalog or external id)
    source_product_id: Mapped[int | None] = mapped_column(BigInteger)  # the product the list was built for
    query: Mapped[str | None] = mapped_column(Text)  # or the search text it was built for
    algorithm: Mapped[str | None] = mapped_column(String(32))
    strategy: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(Integer)  # 0 = first slot of the list
    score: Mapped[float | None] = mapped_column(Float)
    filters: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    experiment: Mapped[str | None] = mapped_column(String(128))
    variant: Mapped[str | None] = mapped_column(String(64))
    simulated: Mapped[int] = mapped_column(Integer, default=0)  # 1 = made by the demo traffic simulator
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)  # dedupe key of imported rows
    # The live config version (1, 2, ...) that served the list; NULL for events logged before versions existed,
    # imported without one, or made by the simulator. Added to older databases by db.add_missing_columns.
    config_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The server-issued id of the list an event belongs to: the service writes it on every `served` row, and a
    # shopper's impression or click must name a list that was served (engine.service), deduplicated per position.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Purchases (and cart adds) carry the unit price and quantity: revenue = price * quantity. NULL when the
    # source has no price (the OTTO sample): such purchases are counted, but not as revenue.
    price: Mapped[float | None] = mapped_column(Float, nullable=True)
    quantity: Mapped[int | None] = mapped_column(Integer, nullable=True)


# Covering indexes, one per dashboard grouping, so SQLite streams each GROUP BY from an index in order instead of
# sorting the table (5x faster at a million rows). The analytics group by these prefixes and sum the rest in pandas.
Index("ix_events_algo", EventRow.algorithm, EventRow.strategy, EventRow.kind, EventRow.position, EventRow.simulated,
      EventRow.day)
Index("ix_events_day", EventRow.day, EventRow.algorithm, EventRow.strategy, EventRow.kind, EventRow.simulated)
Index("ix_events_experiment", EventRow.experiment, EventRow.variant, EventRow.kind, EventRow.simulated, EventRow.day)
Index("ix_events_session", EventRow.kind, EventRow.session_id, EventRow.simulated, EventRow.day)
Index("ix_events_product", EventRow.product_id, EventRow.kind, EventRow.ts, EventRow.simulated)
# The impact of a version (engine.insights.impact): counts per (config_version, kind) for two versions, and the
# highest version below another that has events, both read from this index alone.
# A shopper event names its list by request id: the check that the list was served, and the (request id,
# position, kind) deduplication of beacons, read this index.
Index("ix_events_request", EventRow.request_id, EventRow.position, EventRow.kind)
Index("ix_events_config_version", EventRow.config_version, EventRow.kind, EventRow.simulated)


class ExperimentRow(Base):
    __tablename__ = "experiments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | stopped
    control: Mapped[str] = mapped_column(String(64))  # variant the others are compared with
    winner: Mapped[str | None] = mapped_column(String(64))
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)  # made by the simulator: removed with its events
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime)
    variants: Mapped[list["VariantRow"]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="VariantRow.position")


class VariantRow(Base):
    __tablename__ = "experiment_variants"
    __table_args__ = (UniqueConstraint("experiment_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    config: Mapped[str] = mapped_column(String(200))  # strategy name or config version the variant serves
    share: Mapped[float] = mapped_column(Float)  # traffic share; an experiment's shares sum to 1
    position: Mapped[int] = mapped_column(Integer, default=0)  # order of the buckets in [0, 1)
    experiment: Mapped[ExperimentRow] = relationship(back_populates="variants")


class EventDailyRow(Base):
    """The daily rollup of the event log (engine.insights.rollups): one row per day and combination of the
    columns the dashboards group by, with its counts and money. Dashboards read these rows for every complete
    day instead of scanning millions of events; days not rolled up yet (today, late arrivals) are read raw."""

    __tablename__ = "event_daily"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str | None] = mapped_column(String(32))
    strategy: Mapped[str | None] = mapped_column(String(64))
    config_version: Mapped[int | None] = mapped_column(Integer)
    experiment: Mapped[str | None] = mapped_column(String(128))
    variant: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(Integer)
    simulated: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    # served rows of lists no client reported an impression for: the CTR denominator of those lists
    unreported: Mapped[int] = mapped_column(Integer, default=0)
    priced: Mapped[int] = mapped_column(Integer, default=0)  # rows with a price (purchases: revenue rows)
    units: Mapped[int] = mapped_column(Integer, default=0)  # sum of quantity (1 where absent) over priced rows
    revenue: Mapped[float] = mapped_column(Float, default=0.0)  # sum of price * quantity over priced rows


Index("ix_event_daily_day", EventDailyRow.day, EventDailyRow.kind)


class SessionDailyRow(Base):
    """Which funnel stages each session reached on each day (engine.insights.rollups): the session funnel
    counts distinct sessions over these rows instead of over every event."""

    __tablename__ = "session_daily"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[str] = mapped_column(String(128))
    simulated: Mapped[int] = mapped_column(Integer, default=0)
    shown: Mapped[int] = mapped_column(Integer, default=0)  # a served or reported list
    clicked: Mapped[int] = mapped_column(Integer, default=0)
    carted: Mapped[int] = mapped_column(Integer, default=0)
    bought: Mapped[int] = mapped_column(Integer, default=0)


Index("ix_session_daily_day", SessionDailyRow.day, SessionDailyRow.simulated, SessionDailyRow.session_id)


class ProductDailyRow(Base):
    """Per day and product: impressions (reported, else served), clicks, cart adds, purchases and revenue —
    what the top-products ranking sums when it filters by nothing but days and simulated traffic."""

    __tablename__ = "product_daily"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(BigInteger)
    simulated: Mapped[int] = mapped_column(Integer, default=0)
    impressions: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    carts: Mapped[int] = mapped_column(Integer, default=0)
    purchases: Mapped[int] = mapped_column(Integer, default=0)
    revenue: Mapped[float] = mapped_column(Float, default=0.0)
    # Per event kind, Σ 2^(hours since the day's midnight / 72) over the day's events of that kind: trending
    # (engine.insights.popularity) scales a day's sums by 2^(−(now − midnight)/72 h), which is exactly the sum of
    # each event's decay 2^(−age/72 h). Nullable so add_missing_columns can add them (it then forgets the rollups).
    decay_served: Mapped[float | None] = mapped_column(Float, default=0.0)
    decay_impression: Mapped[float | None] = mapped_column(Float, default=0.0)
    decay_click: Mapped[float | None] = mapped_column(Float, default=0.0)
    decay_cart_add: Mapped[float | None] = mapped_column(Float, default=0.0)
    decay_purchase: Mapped[float | None] = mapped_column(Float, default=0.0)


Index("ix_product_daily_day", ProductDailyRow.day, ProductDailyRow.simulated)


class EventRollupStateRow(Base):
    """How far the rollup has come: every complete day up to `through_day` is rolled up except the dirty ones,
    from events with ids up to `last_event_id`; today is rolled up to `partial_event_id`."""

    __tablename__ = "event_rollup_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    through_day: Mapped[int] = mapped_column(Integer, default=-1)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # today's partial roll (engine.insights.rollup_today): the day, its watermark (the last event id rolled) and
    # when it was made. Nullable, so add_missing_columns adds them to an older database.
    partial_day: Mapped[int | None] = mapped_column(Integer)
    partial_event_id: Mapped[int | None] = mapped_column(BigInteger)
    partial_at: Mapped[datetime | None] = mapped_column(DateTime)


class EventRollupDirtyRow(Base):
    """A rolled-up day whose events changed since (a late arrival, an import of old events, a deletion)."""

    __tablename__ = "event_rollup_dirty"
    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class SearchRow(Base):
    """One text or photo search the service answered (engine.insights.searches): what was asked, what the
    parser understood, how many results came back and whether any was a good match. Clicks on its results
    name the same request_id."""

    __tablename__ = "searches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime)  # naive UTC
    day: Mapped[int] = mapped_column(Integer, default=_day_default)
    kind: Mapped[str] = mapped_column(String(8))  # text | photo
    query: Mapped[str | None] = mapped_column(Text)  # the text asked (NULL for a photo without text)
    norm: Mapped[str | None] = mapped_column(String(200))  # folded query: what "top queries" groups by
    language: Mapped[str | None] = mapped_column(String(16))
    attributes: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # what the query parser understood
    results: Mapped[int] = mapped_column(Integer, default=0)
    no_good_match: Mapped[int] = mapped_column(Integer, default=0)  # 1 = results, but none close enough
    request_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(128))
    simulated: Mapped[int] = mapped_column(Integer, default=0)


Index("ix_searches_day", SearchRow.day, SearchRow.kind, SearchRow.norm)
Index("ix_searches_request", SearchRow.request_id)


class EventImportRow(Base):
    """An event file import in progress or done (engine.insights.event_import): while one runs, the days it has
    written so far (or every period, before its first chunk) are labelled incomplete by the analytics."""

    __tablename__ = "event_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat: Mapped[datetime] = mapped_column(DateTime, default=utcnow)  # last chunk written
    rows: Mapped[int] = mapped_column(Integer, default=0)
    first_day: Mapped[int | None] = mapped_column(Integer)
    last_day: Mapped[int | None] = mapped_column(Integer)


class EventGapRow(Base):
    """A stretch of time whose event log is known to be incomplete: the service had to drop served lists (a
    true overload, the database far behind). Analytics mark every period that overlaps one."""

    __tablename__ = "event_gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[datetime] = mapped_column(DateTime, index=True)  # naive UTC, first dropped list
    end: Mapped[datetime] = mapped_column(DateTime, index=True)  # naive UTC, last dropped list
    dropped: Mapped[int] = mapped_column(Integer)  # served lists whose impressions were not written
    what: Mapped[str] = mapped_column(String(32), default="impressions")


def upgrade_served(conn) -> int:
    """Rows of kind `impression` that the service's impression writer logged before `served` existed (they
    name their list in filters["request_id"] and have no request_id column, which arrived with `served`) are
    what is now a `served` row: relabelled, with the list's id moved to its column. Run once, when
    add_missing_columns adds events.request_id to an older database; returns the rows relabelled."""
    rid = EventRow.filters["request_id"].as_string()
    legacy = select(EventRow.id).where(EventRow.kind == "impression", EventRow.request_id.is_(None),
                                      rid.is_not(None))
    return conn.execute(update(EventRow).where(EventRow.id.in_(legacy))
                        .values(kind="served", request_id=func.substr(rid, 1, 64))).rowcount


def forget_rollups(conn) -> None:
    """Delete every daily rollup and the refresh state: readers go raw until the next refresh rebuilds them
    (after a bulk deletion, or when an upgrade adds a rollup column the old rows lack)."""
    for table in (EventDailyRow, SessionDailyRow, ProductDailyRow, EventRollupDirtyRow, EventRollupStateRow):
        conn.execute(delete(table))
