"""What every recommender of one data location shares, whatever its config: product cards and the
popularity snapshot read from the event log. Building them is the expensive part of a request; a config
under study in the console must not pay for it again on every slider move."""
from __future__ import annotations

import sqlite3
import threading
import time
from typing import Callable, Mapping, Sequence

from cachetools import LRUCache, TTLCache
from sqlalchemy import func, select

from engine.catalog.models import Product
from engine.catalog.queries import Catalog
from engine.types import ProductCard

POPULARITY_TTL = 60.0  # seconds a popularity snapshot from the event log is reused
POPULARITY_VARIANTS = 8  # event weightings kept at once (the live config and a few drafts)
# Two scalar subqueries, not one SELECT of both aggregates: SQLite answers a lone max() from the index's end,
# but scans the whole table for a SELECT holding two (51 ms a request at 100k products).
CATALOG_VERSION = select(select(func.max(Product.updated_at)).scalar_subquery(),
                         select(func.max(Product.id)).scalar_subquery())


class CardCache:
    """Product cards by id, reused while the catalog is unchanged. The check is one indexed query per call
    (newest updated_at and highest id), far cheaper than rebuilding cards with their categories and photos; on
    SQLite it runs only when some connection has committed since the last one (see _commits)."""

    def __init__(self, catalog: Catalog, max_entries: int = 200_000):
        self.catalog, self.max_entries = catalog, max_entries
        self._by_id: LRUCache = LRUCache(maxsize=max_entries)  # least recently used cards leave first
        self._by_sku: LRUCache = LRUCache(maxsize=max_entries)
        self._version: tuple | None = None
        self._lock = threading.Lock()
        self._watch_lock = threading.Lock()
        self._watch = _commit_watch(catalog)
        self._seen_commits: int | None = None
        self.warming = False

    def _commits(self) -> int | None:
        """SQLite's `PRAGMA data_version` on a connection of our own that never writes: it changes whenever any
        other connection, of this process or another, has committed. Unchanged, the catalog is too, and the
        version query (a pooled connection and a round trip, a tenth of a millisecond a request) is skipped.
        None on PostgreSQL or in memory: there the query runs every time."""
        if self._watch is None:
            return None
        with self._watch_lock:
            return self._watch.execute("PRAGMA data_version").fetchone()[0]

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()
            self._by_sku.clear()

    def check(self) -> None:
        """Forget every card when the catalog changed since the last check (one indexed query, when anything
        was committed since the last check)."""
        commits = self._commits()  # read before the query: a commit in between makes the next check query again
        if commits is not None and commits == self._seen_commits:
            return
        with self.catalog.db.engine.connect() as conn:
            version = tuple(conn.execute(CATALOG_VERSION).one())
        if version != self._version:
            self.clear()
            self._version = version
        self._seen_commits = commits

    def warm(self, chunk: int = 2000) -> int:
        """Read every active product's card into the cache, a chunk at a time, when they all fit (else none): a
        service starting on a large catalog otherwise pays card reads on most candidates of its first lists
        (at 100k products a cold list took 23 ms against 5 ms warm). Returns the cards read. Runs beside the
        requests; a catalog change meanwhile clears the cache as usual (check)."""
        self.warming = True
        try:
            ids = self.catalog.ids(active_only=True)
            if len(ids) > self.max_entries:
                return 0
            self.check()
            read = 0
            for i in range(0, len(ids), chunk):
                with self._lock:
                    todo = [pid for pid in ids[i:i + chunk] if pid not in self._by_id]
                if todo:
                    self._keep(self.catalog.cards(todo))
                    read += len(todo)
                time.sleep(0)  # let the request threads in between chunks
            return read
        finally:
            self.warming = False

    def status(self) -> dict[str, int | bool]:
        return {"cached": len(self._by_id), "warming": self.warming}

    def _keep(self, cards: dict[int, ProductCard]) -> None:
        with self._lock:
            self._by_id.update(cards)
            self._by_sku.update((c.sku, c.id) for c in cards.values())

    def cards(self, ids: Sequence[int], checked: bool = False) -> dict[int, ProductCard]:
        """Cards of these ids (unknown ids are left out); `checked` skips the version check when the caller
        has just made it in the same request."""
        if not checked:
            self.check()
        with self._lock:
            found = {i: card for i in ids if (card := self._by_id.get(i)) is not None}
        missing = [i for i in ids if i not in found]
        if missing:
            fresh = self.catalog.cards(missing)
            self._keep(fresh)
            found.update(fresh)
        return {i: found[i] for i in ids if i in found}

    def get(self, key: int | str, checked: bool = False) -> ProductCard:
        """A card by id or sku; NotFound / ValidationError exactly as Catalog.get."""
        if not checked:
            self.check()
        with self._lock:
            pid = self._by_sku.get(key.strip()) if isinstance(key, str) else key
            card = self._by_id.get(pid) if isinstance(pid, int) and not isinstance(pid, bool) else None
        if card is not None:
            return card
        card = self.catalog.card_of(key)
        self._keep({card.id: card})
        return card


def _commit_watch(catalog: Catalog) -> sqlite3.Connection | None:
    """A connection of the cache's own to the catalog's SQLite file, for `PRAGMA data_version` only (it never
    writes: a commit of its own would not count); it closes when the cache is collected."""
    url = catalog.db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return None
    return sqlite3.connect(url.database, check_same_thread=False, isolation_level=None)


class PopularityCache:
    """Time-decayed popularity snapshots per event weighting, each reused for POPULARITY_TTL seconds."""

    def __init__(self, read: Callable[[float, Mapping[str, float]], dict[int, float]],
                 ttl: float = POPULARITY_TTL):
        self._read = read
        self._snapshots: TTLCache = TTLCache(maxsize=POPULARITY_VARIANTS, ttl=ttl)
        self._lock = threading.Lock()

    def get(self, half_life_hours: float, weights: Mapping[str, float]) -> dict[int, float]:
        key = (float(half_life_hours), tuple(sorted((k, float(v)) for k, v in weights.items())))
        with self._lock:
            snap = self._snapshots.get(key)
            if snap is None:
                snap = self._snapshots[key] = self._read(half_life_hours, weights)
            return snap

    def clear(self) -> None:
        with self._lock:
            self._snapshots.clear()
