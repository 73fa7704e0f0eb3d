"""Personalisation: a shopper's taste as one vector in the combined space, learnt from their events.

The profile is a time-decayed, kind-weighted sum over the shopper's most recent events (purchase > cart >
click > impression, weights from `config.events`, half-life and history size from `config.personalisation`):

    S(now) = Σ_e w(kind_e) · 2^(−(now − ts_e) / half_life) · v(product_e)      pref = S / |S|

with the same weights giving the shopper's interest per leaf category and the weighted mean and spread of
the log prices they engage with (the price band). The sums are kept in SQL and refreshed incrementally:
the stored sums are decayed by the time elapsed since they were written (every term shrinks by the same
factor), the new events are added and the events that fell out of the history window are subtracted, so a
refresh costs the new events, never the whole history. A change of half-life, weights, history size or of
the vector index (reindex) rebuilds the profile from the window instead, since the stored sums then no
longer mean the same thing.
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from sqlalchemy import delete, func, select

from engine.cache import index_version as read_index_version
from engine.catalog.events import EventRow
from engine.catalog.models import utcnow
from engine.catalog.profiles import UserDislikeRow, UserProfileRow
from engine.errors import ValidationError
from engine.insights.events import to_utc_naive, utc_now

log = logging.getLogger(__name__)

VECTOR = "combined"  # the profile lives in the combined space: it blends what the shopper read and saw
MIN_LOG_PRICE_SPREAD = 0.2  # the price band is at least ±22 % around the typical price
MAX_USER_ID_CHARS = 128  # events.user_id is String(128)


# ---------------------------------------------------------------- records

@dataclass
class Profile:
    """A shopper's taste now. `vector` is None when none of their weighted events has an indexed product."""

    user_id: str
    vector: np.ndarray | None  # unit vector in the combined space
    events: int  # weighted events in the history window
    weight: float  # total decayed weight of the events with a vector
    categories: dict[int, float]  # leaf category id → share of interest (sums to 1)
    price_band: tuple[float, float] | None
    as_of: datetime
    last_event_id: int
    category_labels: dict[int, str] = field(default_factory=dict)  # "Men / Tops / Jackets" by id

    def top_categories(self, k: int = 3) -> list[int]:
        return [c for c, _ in sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


@dataclass
class _State:
    """The stored sums, decayed to `as_of`."""

    vector: np.ndarray | None
    weight: float
    categories: dict[int, float]
    price: list[float]  # [W, Σ w ln p, Σ w (ln p)²]
    window: list[dict[str, Any]]
    as_of: datetime
    last_event_id: int

    @classmethod
    def empty(cls, as_of: datetime) -> "_State":
        return cls(None, 0.0, {}, [0.0, 0.0, 0.0], [], as_of, 0)

    def decayed(self, now: datetime, half_life_hours: float) -> "_State":
        """Every term of every sum shrinks by the same factor over the same elapsed time."""
        hours = max(0.0, (now - self.as_of).total_seconds() / 3600.0)
        f = 2.0 ** (-hours / half_life_hours)
        return _State(None if self.vector is None else self.vector * f, self.weight * f,
                      {c: w * f for c, w in self.categories.items()}, [p * f for p in self.price],
                      list(self.window), max(now, self.as_of), self.last_event_id)


@dataclass(frozen=True)
class _Params:
    weights: dict[str, float]
    half_life_hours: float
    history_size: int
    index_version: str

    @property
    def kinds(self) -> list[str]:
        return sorted(k for k, w in self.weights.items() if w > 0)

    @property
    def signature(self) -> str:
        w = ",".join(f"{k}={self.weights[k]:g}" for k in sorted(self.weights))
        return f"w[{w}]|h={self.half_life_hours:g}|n={self.history_size}|ix={self.index_version}"


# ---------------------------------------------------------------- the profile store

def check_user(user_id: Any) -> str:
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValidationError("user_id must be a non-empty string")
    if len(user_id) > MAX_USER_ID_CHARS:
        raise ValidationError(f"user_id must be at most {MAX_USER_ID_CHARS} characters, got {len(user_id)}")
    return user_id


def _now(now: datetime | None) -> datetime:
    return utc_now() if now is None else to_utc_naive(now)


class ProfileStore:
    """Profiles and dislikes in the catalog database, vectors from the store, cards from the catalog.

    `parts` is the Runtime (anything with db, store and catalog): the store is read through on every use,
    so a runtime that closed and reopened its store is followed."""

    def __init__(self, parts, index_version: Callable[[], str] | None = None):
        self.parts = parts
        self._index_version = index_version or (lambda: read_index_version(parts.db, parts.store))
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _params(self, config) -> _Params:
        p = config.personalisation
        return _Params(dict(config.events.weights), float(p.half_life_hours), int(p.history_size),
                       self._index_version())

    def _user_lock(self, user_id: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 10_000:
                self._locks = {u: lk for u, lk in self._locks.items() if lk.locked()}
            return self._locks.setdefault(user_id, threading.Lock())

    # ---- events -------------------------------------------------------------------------------------
    def _events(self, user_id: str, params: _Params, after_id: int | None = None,
                limit: int | None = None) -> list[tuple[int, int, str, datetime]]:
        """Weighted events of the user: newer than `after_id` in id order, or the `limit` most recent."""
        kinds = params.kinds
        if not kinds:
            return []
        q = select(EventRow.id, EventRow.product_id, EventRow.kind, EventRow.ts).where(
            EventRow.user_id == user_id, EventRow.kind.in_(kinds))
        if after_id is not None:
            q = q.where(EventRow.id > after_id).order_by(EventRow.id)
        else:
            q = q.order_by(EventRow.ts.desc(), EventRow.id.desc()).limit(limit)
        with self.parts.db.engine.connect() as conn:
            return [(int(i), int(p), str(k), ts) for i, p, k, ts in conn.execute(q)]

    def _last_event_id(self, user_id: str, params: _Params) -> int:
        if not params.kinds:
            return 0
        with self.parts.db.engine.connect() as conn:
            got = conn.execute(select(func.max(EventRow.id)).where(
                EventRow.user_id == user_id, EventRow.kind.in_(params.kinds))).scalar()
        return int(got or 0)

    def _entries(self, rows: Sequence[tuple[int, int, str, datetime]]
                 ) -> tuple[list[dict[str, Any]], dict[int, np.ndarray]]:
        """Window entries and the vectors of their products. An entry keeps the category and price the
        product had when the event was folded in, so subtracting it later removes exactly what was added."""
        cards = self.parts.catalog.cards([p for _, p, _, _ in rows]) if rows else {}
        vectors = self._vectors(cards)
        out = []
        for i, p, k, ts in rows:
            card = cards.get(p)
            out.append({"id": i, "product_id": p, "kind": k, "ts": ts.isoformat(),
                        "category_id": card.category_id if card else None,
                        "category_label": card.category_path if card else None,
                        "price": card.price if card and card.price and card.price > 0 else None,
                        "indexed": p in vectors})
        return out, vectors

    def _vectors(self, product_ids: Iterable[int]) -> dict[int, np.ndarray]:
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        return {h.id: np.asarray(h.vectors[VECTOR], dtype=np.float64)
                for h in self.parts.store.retrieve(ids, with_vectors=[VECTOR]) if VECTOR in h.vectors}

    @staticmethod
    def _contribution(entry: dict[str, Any], now: datetime, params: _Params) -> float:
        ts = datetime.fromisoformat(entry["ts"])
        hours = max(0.0, (now - ts).total_seconds() / 3600.0)  # a clock-skewed future event counts as now
        return params.weights.get(entry["kind"], 0.0) * 2.0 ** (-hours / params.half_life_hours)

    def _fold(self, state: _State, entries: Sequence[dict[str, Any]], sign: float, now: datetime,
              params: _Params, vectors: dict[int, np.ndarray]) -> None:
        for e in entries:
            c = sign * self._contribution(e, now, params)
            if c == 0.0:
                continue
            v = vectors.get(e["product_id"]) if e["indexed"] else None
            if v is not None:
                state.vector = c * v if state.vector is None else state.vector + c * v
                state.weight += c
            if e["category_id"] is not None:
                key = int(e["category_id"])
                state.categories[key] = state.categories.get(key, 0.0) + c
            if e["price"] is not None:
                lp = math.log(e["price"])
                state.price[0] += c
                state.price[1] += c * lp
                state.price[2] += c * lp * lp

    @staticmethod
    def _window_order(e: dict[str, Any]) -> tuple[datetime, int]:
        return datetime.fromisoformat(e["ts"]), e["id"]

    # ---- build and refresh --------------------------------------------------------------------------
    def _from_scratch(self, user_id: str, params: _Params, now: datetime) -> _State:
        rows = self._events(user_id, params, limit=params.history_size)
        entries, vectors = self._entries(rows)
        state = _State.empty(now)
        state.window = sorted(entries, key=self._window_order)
        state.last_event_id = max([self._last_event_id(user_id, params)] + [e["id"] for e in entries])
        self._fold(state, entries, 1.0, now, params, vectors)
        return state

    def _incremental(self, row: UserProfileRow, user_id: str, params: _Params, now: datetime) -> tuple[_State, bool]:
        """The stored sums decayed to now, plus the new events, minus the events they push out of the
        window. Returns the state and whether anything new was folded in."""
        vec = np.frombuffer(row.vector, dtype=np.float64).copy() if row.vector is not None else None
        stored = _State(vec, float(row.weight), {int(c): float(w) for c, w in (row.categories or {}).items()},
                        [float(x) for x in (row.price or [0.0, 0.0, 0.0])], list(row.window or []),
                        row.as_of, int(row.last_event_id))
        state = stored.decayed(now, params.half_life_hours)
        new_rows = self._events(user_id, params, after_id=stored.last_event_id)
        if not new_rows:
            return state, False
        new, vectors = self._entries(new_rows)
        merged = sorted(state.window + new, key=self._window_order, reverse=True)
        kept = merged[:params.history_size]
        kept_ids = {e["id"] for e in kept}
        added = [e for e in new if e["id"] in kept_ids]
        evicted = [e for e in state.window if e["id"] not in kept_ids]
        vectors.update(self._vectors(e["product_id"] for e in evicted if e["indexed"]))
        self._fold(state, added, 1.0, now, params, vectors)
        self._fold(state, evicted, -1.0, now, params, vectors)
        state.window = sorted(kept, key=self._window_order)
        state.last_event_id = max(r[0] for r in new_rows)
        self._tidy(state)
        return state, True

    @staticmethod
    def _tidy(state: _State) -> None:
        """Subtraction leaves rounding dust where a category or the whole history left the window."""
        if not any(e["indexed"] for e in state.window):
            state.vector, state.weight = None, 0.0
        live = {int(e["category_id"]) for e in state.window if e["category_id"] is not None}
        state.categories = {c: w for c, w in state.categories.items() if c in live and w > 0}
        if not any(e["price"] is not None for e in state.window):
            state.price = [0.0, 0.0, 0.0]

    def refresh(self, user_id: str, config, now: datetime | None = None) -> Profile:
        """The user's profile now, folding in the events logged since the last refresh (and storing it)."""
        user_id, now = check_user(user_id), _now(now)
        params = self._params(config)
        with self._user_lock(user_id):
            with self.parts.db.session() as s:
                row = s.get(UserProfileRow, user_id)
                if row is None or row.signature != params.signature:
                    state, changed = self._from_scratch(user_id, params, now), True
                else:
                    state, changed = self._incremental(row, user_id, params, now)
                if changed:
                    values = dict(signature=params.signature, as_of=state.as_of, last_event_id=state.last_event_id,
                                  vector=None if state.vector is None else state.vector.astype(np.float64).tobytes(),
                                  weight=state.weight, categories={str(c): w for c, w in state.categories.items()},
                                  price=list(state.price), window=state.window, updated_at=utcnow())
                    if row is None:
                        s.add(UserProfileRow(user_id=user_id, **values))
                    else:
                        for k, v in values.items():
                            setattr(row, k, v)
        return self._profile(user_id, state)

    def from_scratch(self, user_id: str, config, now: datetime | None = None) -> Profile:
        """The profile recomputed from the event log alone, without reading or writing the stored one."""
        user_id, now = check_user(user_id), _now(now)
        return self._profile(user_id, self._from_scratch(user_id, self._params(config), now))

    @staticmethod
    def _profile(user_id: str, state: _State) -> Profile:
        vector = None
        if state.vector is not None and state.weight > 0:
            norm = float(np.linalg.norm(state.vector))
            if norm > 0 and math.isfinite(norm):
                vector = (state.vector / norm).astype(np.float32)
        total = sum(w for w in state.categories.values() if w > 0)
        cats = {c: w / total for c, w in state.categories.items() if w > 0} if total > 0 else {}
        band = None
        w, s1, s2 = state.price
        if w > 0:
            mean = s1 / w
            spread = max(MIN_LOG_PRICE_SPREAD, math.sqrt(max(0.0, s2 / w - mean * mean)))
            band = (round(math.exp(mean - spread), 2), round(math.exp(mean + spread), 2))
        labels = {int(e["category_id"]): e["category_label"] for e in state.window
                  if e.get("category_id") is not None and e.get("category_label")}
        return Profile(user_id, vector, len(state.window), state.weight, cats, band, state.as_of,
                       state.last_event_id, labels)

    # ---- exclusions and dislikes --------------------------------------------------------------------
    def interacted(self, user_id: str, kinds: Sequence[str]) -> set[int]:
        """Products the user acted on with any of these event kinds (whatever the weights)."""
        with self.parts.db.engine.connect() as conn:
            return {int(p) for p in conn.execute(select(EventRow.product_id).distinct().where(
                EventRow.user_id == user_id, EventRow.kind.in_(list(kinds)))).scalars()}

    def dislike(self, user_id: str, product_id: int) -> None:
        user_id = check_user(user_id)
        with self.parts.db.session() as s:
            row = s.get(UserDislikeRow, (user_id, int(product_id)))
            if row is None:
                s.add(UserDislikeRow(user_id=user_id, product_id=int(product_id)))
            else:
                row.created_at = utcnow()  # disliked again: it is the most recent dislike now

    def undislike(self, user_id: str, product_id: int) -> bool:
        user_id = check_user(user_id)
        with self.parts.db.session() as s:
            gone = s.execute(delete(UserDislikeRow).where(UserDislikeRow.user_id == user_id,
                                                          UserDislikeRow.product_id == int(product_id)))
        return bool(gone.rowcount)

    def dislikes(self, user_id: str) -> list[int]:
        """Most recent first."""
        user_id = check_user(user_id)
        with self.parts.db.engine.connect() as conn:
            return [int(p) for p in conn.execute(
                select(UserDislikeRow.product_id).where(UserDislikeRow.user_id == user_id)
                .order_by(UserDislikeRow.created_at.desc(), UserDislikeRow.product_id)).scalars()]
