"""Tuning the business reranking: what-if numbers for a config, before/after previews with rank changes, edits
of a config (strategies, diversity, rules, the complete-the-look map) that always return a validated copy, and
the link-based evaluation of complete-the-look.

Every figure is produced by the real Recommender built from the config under study, over a fixed sample of
products chosen once by seed, so the numbers of two configs are comparable and a config exported after tuning
ranks exactly as its preview did. The console's Tuning, Rules and Complete-the-look pages are views of this
module."""
from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Hashable, Iterable, Literal, Mapping, Sequence

import numpy as np
from sqlalchemy import func, select

from engine.catalog.models import Product, ProductCategory
from engine.catalog.queries import Catalog
from engine.recommend.config import ConfigHistory, DiversityConfig, RecoConfig, dump, fingerprint, load
from engine.metrics import catalog_coverage, intra_list_diversity
from engine.errors import ConfigError, NotFound, ValidationError
from engine.metrics import ndcg_at_k, recall_at_k
from engine.recommend.looks import ComplementaryTarget, rows_to_mapping, targets_for
from engine.recommend.facade import Recommender
from engine.runtime import Runtime
from engine.recommend.rerank import Strategy, age_days
from engine.recommend.rules import Rule, parse_scope
from engine.settings import Settings
from engine.types import VECTOR_KINDS, ProductCard, Recommendation

SAMPLE_SEED = 7
SAMPLE_LINKED = 60  # sample products that have upsell links: the Recall/NDCG queries
SAMPLE_OTHERS = 20  # and products without, so the list-shape numbers see the whole catalog
LOOK_SAMPLE = 40  # products with related or cross-sell links whose looks are judged
NEW_DAYS = 30.0  # a product created within this many days counts as new
CACHE_ENTRIES = 64
HISTORY_FOLDER = "configs"  # exported versions, under the data folder

def resolve_strategy(config: RecoConfig, name: str | None) -> str:
    """`name` when the config defines it, else the config's default strategy (a config saved before a
    strategy was created has no such strategy: it is compared through its default one)."""
    return name if name is not None and name in config.strategies else config.default_strategy


def _location(rec: Recommender) -> tuple:
    """What cached figures are kept per: the data location and the catalog's state (newest change, highest id
    and product count: one indexed query), so an import or an edit is never answered from the cache."""
    s: Settings = rec.settings
    with rec.catalog.db.engine.connect() as conn:
        version = tuple(conn.execute(select(func.max(Product.updated_at), func.max(Product.id), func.count())
                                     .select_from(Product)).one())
    return str(s.data_dir), s.sql_url, s.qdrant_url, version


class _TTLCache:
    """A small thread-safe LRU whose entries also expire after the settings' cache TTL (popularity moves with
    new events)."""

    def __init__(self, entries: int = CACHE_ENTRIES):
        self.entries = entries
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, ttl: float) -> Any | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            if time.monotonic() - hit[0] > ttl:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_SNAPSHOTS = _TTLCache(8)
_WHAT_IF = _TTLCache()
_LOOKS = _TTLCache()


def clear_cache() -> None:
    """Forget every cached snapshot and figure (after a reindex with other encoders, say)."""
    for c in (_SNAPSHOTS, _WHAT_IF, _LOOKS):
        c.clear()


# ---------------------------------------------------------------- the catalog as the metrics see it

@dataclass(frozen=True)
class CatalogSnapshot:
    """Active products and the curated links between them, read once and shared by the metrics."""

    cards: dict[int, ProductCard]
    filed: dict[int, frozenset[int]]  # every category a product is under, as the store's category filter sees it
    upsell: dict[int, frozenset[int]]  # source → pricier alternatives (both active)
    look_links: dict[int, frozenset[int]]  # source → related and cross-sell products (both active)
    _members: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)

    def style(self, pid: int) -> str:
        """Links join styles, not colours: a product is judged by its variant group."""
        card = self.cards[pid]
        return card.group_key or card.sku

    def styles(self, ids: Iterable[int]) -> set[str]:
        return {self.style(i) for i in ids if i in self.cards}

    def in_category(self, category_id: int) -> list[int]:
        """Active products under a category (its subtree, by primary category or by membership)."""
        if category_id not in self._members:
            self._members[category_id] = [pid for pid, cats in self.filed.items() if category_id in cats]
        return self._members[category_id]


def snapshot(runtime: Runtime) -> CatalogSnapshot:
    base = runtime.recommender()
    key = _location(base)
    snap = _SNAPSHOTS.get(key, base.settings.cache_ttl)
    if snap is None:
        snap = _read_snapshot(base.catalog)
        _SNAPSHOTS.put(key, snap)
    return snap


def _read_snapshot(catalog: Catalog) -> CatalogSnapshot:
    cards = catalog.cards(catalog.ids(active_only=True))
    filed = {pid: set(card.category_ids) for pid, card in cards.items()}
    with catalog.db.session() as s:
        members = s.execute(select(ProductCategory.product_id, ProductCategory.category_id)).all()
    for pid, cid in members:  # collections and promotions: a product is under them and their ancestors too
        if pid in filed:
            filed[pid].update(catalog.category_ancestors(cid, include_self=True))

    def active(links: Mapping[int, set[int]]) -> dict[int, frozenset[int]]:
        out = {}
        for src, dst in links.items():
            kept = frozenset(d for d in dst if d in cards)
            if src in cards and kept:
                out[src] = kept
        return out

    look: dict[int, set[int]] = {}
    for kind in ("related", "crosssell"):
        for src, dst in catalog.links(kind).items():
            look.setdefault(src, set()).update(dst)
    return CatalogSnapshot(cards, {pid: frozenset(c) for pid, c in filed.items()}, active(catalog.links("upsell")),
                           active(look))


def default_sample(snap: CatalogSnapshot, linked: int = SAMPLE_LINKED, others: int = SAMPLE_OTHERS,
                   seed: int = SAMPLE_SEED) -> tuple[int, ...]:
    """The what-if sample: `linked` products with upsell links and `others` without, drawn by `seed`
    (the same catalog always gives the same sample), in id order."""
    rng = random.Random(seed)
    with_links = sorted(snap.upsell)
    without = sorted(set(snap.cards) - set(snap.upsell))
    picked = rng.sample(with_links, min(linked, len(with_links))) + rng.sample(without, min(others, len(without)))
    return tuple(sorted(picked))


def look_sample(snap: CatalogSnapshot, size: int = LOOK_SAMPLE, seed: int = SAMPLE_SEED) -> tuple[int, ...]:
    """Products with related or cross-sell links, drawn by `seed`, in id order."""
    rng = random.Random(seed)
    linked = sorted(snap.look_links)
    return tuple(sorted(rng.sample(linked, min(size, len(linked)))))


# ---------------------------------------------------------------- what-if

@dataclass(frozen=True)
class MetricSpec:
    name: str  # the WhatIf attribute
    label: str  # "{k}" is replaced by the list length
    help: str
    better: Literal["higher", "lower", "neither"]
    percent: bool  # shown as a percentage


WHAT_IF_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("recall", "Upsell recall@{k}", "Share of a product's upsell styles (Luma upsell links) that its "
               "similar items show, averaged over the sample products that have upsell links.", "higher", False),
    MetricSpec("ndcg", "Upsell NDCG@{k}", "Like recall, rewarding upsell styles shown near the top.", "higher", False),
    MetricSpec("price_distance", "Price distance", "Mean |price − source price| / source price of the items "
               "shown.", "neither", True),
    MetricSpec("in_stock", "In stock", "Share of the items shown that are in stock.", "higher", True),
    MetricSpec("new", "New", f"Share of the items shown created in the last {NEW_DAYS:g} days.", "neither", True),
    MetricSpec("diversity", "Diversity", "Intra-list diversity: mean pairwise 1 − cosine of the vectors of the "
               "items of a list.", "higher", False),
    MetricSpec("coverage", "Coverage", "Distinct products shown over all sample lists, as a share of the active "
               "products.", "higher", True),
)


@dataclass(frozen=True)
class WhatIf:
    """What a config and strategy would show over the sample; every figure is a mean over its lists."""

    strategy: str
    fingerprint: str
    k: int
    by: str
    queries: int  # sample products answered
    upsell_queries: int  # of which have upsell links
    recall: float
    ndcg: float
    price_distance: float
    in_stock: float
    new: float
    diversity: float
    coverage: float
    seconds: float
    cached: bool = False

    def value(self, name: str) -> float:
        return float(getattr(self, name))


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else float("nan")


def _k(k: int, settings: Settings) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= settings.max_results:
        raise ValidationError(f"k must be a whole number from 1 to {settings.max_results}, got {k!r}")
    return k


def what_if(runtime: Runtime, config: RecoConfig, strategy: str | None = None, sample: Sequence[int] | None = None,
            k: int = 10, by: str = "combined", now: datetime | None = None) -> WhatIf:
    """Similar items of every sample product (default: `default_sample`) ranked by `config` and `strategy`
    (default: the config's default), and what the lists are like. Cached per data location, config
    fingerprint, strategy, sample, k and vector kind for the settings' cache TTL."""
    base = runtime.recommender()
    k = _k(k, base.settings)
    if by not in VECTOR_KINDS:
        raise ValidationError(f"unknown vector {by!r}: use one of {', '.join(VECTOR_KINDS)}")
    rec = runtime.recommender(config)
    name = strategy or config.default_strategy
    config.strategy(name)
    snap = snapshot(runtime)
    ids = tuple(int(i) for i in sample) if sample is not None else default_sample(snap)
    key = (_location(base), fingerprint(config), name, ids, k, by, now)
    hit = _WHAT_IF.get(key, base.settings.cache_ttl)
    if hit is not None:
        return replace(hit, cached=True)

    t0 = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    lists: list[tuple[int, list[Recommendation]]] = []
    for pid in ids:
        if pid not in snap.cards:
            continue
        try:
            lists.append((pid, rec.similar(pid, by=by, n=k, strategy=name)))
        except NotFound:  # not indexed yet, or no photo for by="image"
            continue
    shown = sorted({r.product.id for _, recs in lists for r in recs})
    vectors = {h.id: h.vectors[by] for h in base.store.retrieve(shown, with_vectors=[by]) if by in h.vectors}

    recall, ndcg, distance, stock, new, spread = [], [], [], [], [], []
    for pid, recs in lists:
        source = snap.cards[pid]
        relevant = snap.styles(snap.upsell.get(pid, ()))
        if relevant:
            styles = list(dict.fromkeys(r.product.group_key or r.product.sku for r in recs))
            recall.append(recall_at_k(styles, relevant, k))
            ndcg.append(ndcg_at_k(styles, relevant, k))
        if not recs:
            continue
        if source.price > 0:
            distance.append(_mean([abs(r.product.price - source.price) / source.price for r in recs]))
        stock.append(_mean([1.0 if r.product.in_stock else 0.0 for r in recs]))
        new.append(_mean([1.0 if (age := age_days(r.product, now)) is not None and age <= NEW_DAYS else 0.0
                          for r in recs]))
        spread.append(intra_list_diversity([vectors[r.product.id] for r in recs if r.product.id in vectors]))
    result = WhatIf(
        strategy=name, fingerprint=fingerprint(config), k=k, by=by, queries=len(lists), upsell_queries=len(recall),
        recall=_mean(recall), ndcg=_mean(ndcg), price_distance=_mean(distance), in_stock=_mean(stock),
        new=_mean(new), diversity=_mean(spread),
        coverage=catalog_coverage([recs for _, recs in lists], max(1, len(snap.cards))),
        seconds=time.perf_counter() - t0)
    _WHAT_IF.put(key, result)
    return result


# ---------------------------------------------------------------- before / after previews

ChangeKind = Literal["new", "up", "down", "same", "out"]


@dataclass(frozen=True)
class RankChange:
    """How an item moved between two lists: new (absent before), up / down by `places`, same, or out (absent
    after)."""

    kind: ChangeKind
    places: int = 0

    @property
    def label(self) -> str:
        if self.kind == "up":
            return f"▲ {self.places}"
        if self.kind == "down":
            return f"▼ {self.places}"
        return self.kind


def _positions(ids: Sequence[int], what: str) -> dict[int, int]:
    pos: dict[int, int] = {}
    for i, pid in enumerate(ids):
        if pid in pos:
            raise ValidationError(f"the {what} list holds product {pid} twice")
        pos[pid] = i
    return pos


def _move(old: int, new: int) -> RankChange:
    if new < old:
        return RankChange("up", old - new)
    if new > old:
        return RankChange("down", new - old)
    return RankChange("same")


def rank_changes(before: Sequence[int], after: Sequence[int]) -> list[RankChange]:
    """For each item of `after`, where it came from: new, or up / down / same against its rank in `before`."""
    old = _positions(before, "before")
    _positions(after, "after")
    return [_move(old[pid], i) if pid in old else RankChange("new") for i, pid in enumerate(after)]


def fates(before: Sequence[int], after: Sequence[int]) -> list[RankChange]:
    """For each item of `before`, where it went: out, or up / down / same against its rank in `after`."""
    _positions(before, "before")
    new = _positions(after, "after")
    return [_move(i, new[pid]) if pid in new else RankChange("out") for i, pid in enumerate(before)]


@dataclass(frozen=True)
class PreviewRow:
    """One rank of a before/after comparison: the item each list shows there and how it moved."""

    rank: int
    before: Recommendation | None
    before_change: RankChange | None  # where the before item went ("out": not in the after list)
    after: Recommendation | None
    after_change: RankChange | None  # where the after item came from ("new": not in the before list)

    def record(self) -> dict[str, Any]:
        """The row as a table line (skus and change labels)."""
        return {"rank": self.rank,
                "before": self.before.product.sku if self.before else None,
                "went": self.before_change.label if self.before_change else None,
                "after": self.after.product.sku if self.after else None,
                "change": self.after_change.label if self.after_change else None}


def compare(before: Sequence[Recommendation], after: Sequence[Recommendation]) -> list[PreviewRow]:
    """Two ranked lists side by side, rank by rank, with every item's move."""
    b_ids, a_ids = [r.product.id for r in before], [r.product.id for r in after]
    went, came = fates(b_ids, a_ids), rank_changes(b_ids, a_ids)
    return [PreviewRow(i + 1, before[i] if i < len(before) else None, went[i] if i < len(before) else None,
                       after[i] if i < len(after) else None, came[i] if i < len(after) else None)
            for i in range(max(len(before), len(after)))]


def preview(recommender_before: Recommender, recommender_after: Recommender, product: int | str,
            strategy: str | None = None, n: int = 12, by: str = "combined") -> list[PreviewRow]:
    """Similar items of `product` from two recommenders, rank by rank. `strategy` (default: the after config's
    default) must exist in the after config; the before config uses its own strategy of that name, or its
    default strategy when it has none."""
    name = strategy or recommender_after.config.default_strategy
    recommender_after.config.strategy(name)
    before = recommender_before.similar(product, by=by, n=n,
                                        strategy=resolve_strategy(recommender_before.config, name))
    after = recommender_after.similar(product, by=by, n=n, strategy=name)
    return compare(before, after)


# ---------------------------------------------------------------- config edits (validated copies)

FACTOR_HELP: dict[str, str] = {
    "similarity": "Vector similarity to the source: how alike the two products look and read.",
    "category": "1 in the source's leaf category, 0.5 in its parent, 0.25 in its top-level category.",
    "price": "Closeness in price, whichever way: twice or half the price scores 0.5.",
    "price_up": "Upsell: pricier than the source, up to the price band, scores highest.",
    "stock": "0 out of stock, rising with the units in stock.",
    "freshness": "New products first: halves every freshness half-life.",
    "popularity": "Time-decayed shopper events (views, carts, purchases), relative to the candidates.",
    "margin": "(price − cost) / price, where the catalog has costs.",
    "same_brand": "1 for the source's own brand.",
}


def _weights(weights: Mapping[str, Any]) -> dict[str, Any]:
    """Zero weights are left out (they change nothing); numbers become floats, anything else is kept for the
    validation to report."""
    out = {}
    for f, w in weights.items():
        number = isinstance(w, (int, float)) and not isinstance(w, bool)
        if number and w == 0:
            continue
        out[f] = float(w) if number else w
    return out


def with_strategy(config: RecoConfig, name: str, weights: Mapping[str, float], mmr_lambda: float | None = None,
                  collapse_k: int | None = None, *, description: str | None = None,
                  make_default: bool = False) -> RecoConfig:
    """A copy of `config` where strategy `name` (created or replaced) has `weights`, the diversity settings
    are `mmr_lambda` / `collapse_k` (None: off), and, with make_default, `name` is the default strategy.
    ConfigError lists every problem; `config` itself is never changed."""
    old = config.strategies.get(name)
    text = description if description is not None else (old.description if old is not None else "")
    strategies = dict(config.strategies)
    strategies[name] = Strategy(name, _weights(weights), text)
    diversity = DiversityConfig(None if mmr_lambda is None else float(mmr_lambda), collapse_k)
    out = replace(config, strategies=strategies, diversity=diversity,
                  default_strategy=name if make_default else config.default_strategy)
    return out.validate()


def with_default_strategy(config: RecoConfig, name: str) -> RecoConfig:
    config.strategy(name)
    return replace(config, default_strategy=name).validate()


SCOPE_KINDS = ("everywhere", "category", "product")


def scope_text(kind: str, ref: int | None = None) -> str:
    """The rule scope for "everywhere", "category" (ref: category id) or "product" (ref: product id)."""
    if kind == "everywhere":
        return "global"
    if kind in ("category", "product"):
        if isinstance(ref, bool) or not isinstance(ref, int):
            raise ValidationError(f"a {kind} scope needs a {kind} id, got {ref!r}")
        return f"{kind}:{ref}"
    raise ValidationError(f"unknown scope {kind!r}: use one of {', '.join(SCOPE_KINDS)}")


def describe_scope(scope: str, catalog: Catalog) -> str:
    """A scope as people read it: everywhere, category Men / Tops, product MH01-Black."""
    kind, ref = parse_scope(scope)
    if kind == "global":
        return "everywhere"
    try:
        if kind == "category":
            return f"category {catalog.category(ref).label}"
        return f"product {catalog.get(ref).sku}"
    except NotFound:
        return f"{kind} {ref} (no longer in the catalog)"


def next_rule_id(config: RecoConfig, action: str) -> str:
    used = {r.id for r in config.rules}
    i = 1
    while f"{action}-{i}" in used:
        i += 1
    return f"{action}-{i}"


def with_rule(config: RecoConfig, action: str, product_id: int, slot: int | None = None, scope: str = "global",
              note: str = "") -> RecoConfig:
    """A copy of `config` with one more rule (its id made up from the action); ConfigError lists every problem
    (a slot already pinned in that scope, a repeated rule, a hide with a slot...)."""
    rule = Rule(next_rule_id(config, action), action, product_id, slot, scope, note)
    return replace(config, rules=list(config.rules) + [rule]).validate()


def without_rules(config: RecoConfig, ids: Iterable[str]) -> RecoConfig:
    gone = set(ids)
    unknown = gone - {r.id for r in config.rules}
    if unknown:
        raise NotFound(f"no rule with id {', '.join(sorted(unknown))}")
    return replace(config, rules=[r for r in config.rules if r.id not in gone]).validate()


def with_look_map(config: RecoConfig, rows: Iterable[Mapping[str, Any]], known_paths: Iterable[str] | None = None,
                  known_ids: Iterable[int] = ()) -> RecoConfig:
    """A copy of `config` with the complete-the-look map the editor rows describe; ConfigError lists every bad
    row and nothing is applied."""
    mapping = rows_to_mapping(rows, known_paths, known_ids)
    return replace(config, complementary=mapping).validate()


# ---------------------------------------------------------------- export and history

def history_for(settings: Settings) -> ConfigHistory:
    """Exported versions live in the data folder's configs/."""
    return ConfigHistory(Path(settings.data_dir) / HISTORY_FOLDER)


def stamped(config: RecoConfig, now: datetime) -> RecoConfig:
    """The config labelled as ConfigHistory.save labels a version saved at `now`."""
    now = now.astimezone(timezone.utc)
    return replace(config, version=now.strftime("%Y%m%dT%H%M%S%fZ"), created_at=now.isoformat())


def import_config(data: bytes) -> RecoConfig:
    """A config from an uploaded file: a fully valid config, or ConfigError listing every problem. Always read
    as a document (bytes), never as a path, whatever the file holds."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError("config file cannot be read", [f"not UTF-8 text: {e}"]) from None
    return load(bytes(data))


def export_text(config: RecoConfig, now: datetime) -> str:
    """The YAML of the version `ConfigHistory.save(config, now)` writes, byte for byte."""
    return dump(stamped(config, now).validate())


# ---------------------------------------------------------------- complete the look, judged by links

class _LinkedShare:
    """Share of look items linked to their source (`linked`, `items`), and what random picks would give."""

    items: int
    linked: int
    expected: float

    @property
    def rate(self) -> float:
        return self.linked / self.items if self.items else float("nan")

    @property
    def baseline(self) -> float:
        return self.expected / self.items if self.items else float("nan")


@dataclass(frozen=True)
class LookJudgement(_LinkedShare):
    """One product's look against the curated links of its style."""

    product_id: int
    items: int
    linked: int  # items whose style the source links to (related or cross-sell)
    expected: float  # linked items expected from random picks in the same target categories


@dataclass(frozen=True)
class LookEvaluation(_LinkedShare):
    """Share of look items linked to their source, over the look sample, beside the random baseline."""

    fingerprint: str
    queries: int  # sample products with a look
    items: int
    linked: int
    expected: float
    seconds: float
    cached: bool = False


def _target_of(rec: Recommendation, targets: Sequence[ComplementaryTarget], ids: Mapping[str, int | None],
               filed: Mapping[int, frozenset[int]]) -> ComplementaryTarget | None:
    """The map target a look item was picked for: the first of its relation whose category holds it."""
    same = [t for t in targets if t.relation == rec.relation]
    for t in same:
        if ids.get(t.category) is not None and ids[t.category] in filed.get(rec.product.id, ()):
            return t
    return same[0] if same else None


def _category_ids(catalog: Catalog, targets: Sequence[ComplementaryTarget]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for t in targets:
        try:
            out[t.category] = catalog.category_id(t.category)
        except NotFound:
            out[t.category] = None
    return out


def judge_look(snap: CatalogSnapshot, catalog: Catalog, config: RecoConfig, source: ProductCard,
               look: Sequence[Recommendation]) -> LookJudgement:
    """How many look items the source's links name, and how many random products of the same target
    categories would (their exact expectation: the linked share of each category's products, the source's own
    style left out as complete-the-look leaves it out)."""
    wanted = snap.styles(snap.look_links.get(source.id, ()))
    own = source.group_key or source.sku
    targets = targets_for(source, config.complementary)
    ids = _category_ids(catalog, targets)
    share: dict[str, float] = {}
    for cat, cid in ids.items():
        pool = [p for p in (snap.in_category(cid) if cid is not None else []) if snap.style(p) != own]
        share[cat] = sum(snap.style(p) in wanted for p in pool) / len(pool) if pool else 0.0
    linked, expected = 0, 0.0
    for rec in look:
        if (rec.product.group_key or rec.product.sku) in wanted:
            linked += 1
        target = _target_of(rec, targets, ids, snap.filed)
        expected += share.get(target.category, 0.0) if target is not None else 0.0
    return LookJudgement(source.id, len(look), linked, expected)


def judge_product_look(runtime: Runtime, config: RecoConfig, product: int | str, by: str = "combined"
                       ) -> tuple[list[Recommendation], LookJudgement]:
    """The look of one product under `config`, and its judgement."""
    base = runtime.recommender()
    rec = runtime.recommender(config)
    look = rec.complete_the_look(product, by=by)
    source = base.catalog.card(base.catalog.get(product))
    return look, judge_look(snapshot(runtime), base.catalog, config, source, look)


def evaluate_looks(runtime: Runtime, config: RecoConfig, sample: Sequence[int] | None = None,
                   by: str = "combined") -> LookEvaluation:
    """The looks of the sample products (default: `look_sample`) under `config`, judged by the links. Cached
    per data location, config fingerprint, sample and vector kind for the settings' cache TTL."""
    base = runtime.recommender()
    rec = runtime.recommender(config)
    snap = snapshot(runtime)
    ids = tuple(int(i) for i in sample) if sample is not None else look_sample(snap)
    key = (_location(base), fingerprint(config), ids, by)
    hit = _LOOKS.get(key, base.settings.cache_ttl)
    if hit is not None:
        return replace(hit, cached=True)
    t0 = time.perf_counter()
    queries, items, linked, expected = 0, 0, 0, 0.0
    for pid in ids:
        if pid not in snap.cards:
            continue
        try:
            look = rec.complete_the_look(pid, by=by)
        except NotFound:
            continue
        if not look:
            continue
        j = judge_look(snap, base.catalog, config, snap.cards[pid], look)
        queries, items, linked, expected = queries + 1, items + j.items, linked + j.linked, expected + j.expected
    result = LookEvaluation(fingerprint(config), queries, items, linked, expected, time.perf_counter() - t0)
    _LOOKS.put(key, result)
    return result


__all__ = ["CatalogSnapshot", "FACTOR_HELP", "LookEvaluation", "LookJudgement", "MetricSpec", "PreviewRow",
           "RankChange", "SCOPE_KINDS", "WHAT_IF_METRICS", "WhatIf",
           "clear_cache", "compare", "default_sample", "describe_scope", "evaluate_looks", "export_text", "fates",
           "history_for", "import_config", "judge_look", "judge_product_look", "look_sample", "next_rule_id",
           "preview", "rank_changes", "resolve_strategy", "scope_text", "snapshot", "stamped",
           "what_if", "with_default_strategy", "with_look_map", "with_rule", "with_strategy", "without_rules"]
