"""Shopper profile tables: the decayed sums behind "recommended for you" and the "not like this" list.
They live with the other SQL tables so that creating the schema never needs the recommender."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, JSON, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.catalog.events import EventRow
from engine.catalog.models import Base, utcnow


class UserProfileRow(Base):
    """The decayed sums of one shopper's profile as of `as_of`, and the events they cover."""

    __tablename__ = "user_profiles"
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    signature: Mapped[str] = mapped_column(String(300))  # parameters and index version the sums were built with
    as_of: Mapped[datetime] = mapped_column(DateTime)  # naive UTC the sums are decayed to
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)  # newest event id folded in
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)  # float64 Σ w·decay·v (not normalised)
    weight: Mapped[float] = mapped_column(Float, default=0.0)  # Σ w·decay over events with a vector
    categories: Mapped[dict] = mapped_column(JSON, default=dict)  # leaf category id → Σ w·decay
    price: Mapped[list] = mapped_column(JSON, default=list)  # [Σ w·decay, Σ … ·ln p, Σ … ·(ln p)²]
    window: Mapped[list] = mapped_column(JSON, default=list)  # the history_size most recent weighted events
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class UserDislikeRow(Base):
    """"Not like this": a product a shopper asked to see less of. Results move away from it."""

    __tablename__ = "user_dislikes"
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# A shopper's events by user: the profile refresh and the seen-products exclusion read nothing else, and the
# event log has no index on user_id of its own. Covering (kind, product_id) so "what did u see" is index-only.
EVENTS_BY_USER = Index("ix_events_user", EventRow.user_id, EventRow.kind, EventRow.product_id)
