"""Text search as a shopper meets it: exact sku and product-name matches first; then the products that have
every attribute the query names (colour, gender, category; a price is a hard limit), then those that have
fewer, each group ranked by the fusion of the dense and the lexical lists (engine.search.fusion) and reranked
by the config's text-search strategy; with a confidence, below which the results are "loosely related".

Attributes are preferences, not filters: a query whose colour the catalog lacks in that category still shows
the category (after any exact hits), never an empty page. They act through the similarity the reranker
reads — (weighted attributes matched + relevance) / (weighted attributes named + 1) — so a strategy's business factors may
reorder products within a group but never lift one that misses an attribute above one that has it, and a
final stable partition by attributes matched guarantees it whatever the weights.

A collection built before lexical search has no lexical vectors: search then runs on the dense vectors alone
and the result says so (`notes`), until `python -m engine index --full`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

from engine.errors import ValidationError
from engine.search.confidence import Evidence, confidence
from engine.search.fusion import fuse
from engine.search.parse import Attribute, CategoryInfo, ParsedQuery, QueryParser
from engine.search.sparse import encode_query
from engine.search.tokens import fold, looks_like_sku, words
from engine.store.vectors import unit
from engine.types import Filters, ProductCard, Recommendation, copied

# The recommender (engine.recommend.facade.Recommender) that runs a search: its store, catalog, text encoder,
# config, cards and merchandising hooks; and its reranker (engine.recommend.rerank.rerank). Neither is
# imported: the recommender layer sits above this one and hands them over.
Recommender = Any
Rerank = Callable[..., list[Recommendation]]

MODES = ("hybrid", "dense", "lexical")
OVERFETCH = 5  # candidates per result and per list, so reranking, collapse and the groups have room
MIN_POOL = 50
CATEGORY_WEIGHT = 3.0  # above colour + gender (1 each): the category decides first
NO_LEXICAL_NOTE = ("the vector collection predates lexical search: results come from the dense vectors alone; "
                   "rebuild it with `python -m engine index --full`")


@dataclass
class TextSearchResult:
    """What a text search answers: the ranked items, the attributes read from the query (the console shows
    them as removable chips), how sure it is, and whether the results are only loosely related."""

    query: str
    items: list[Recommendation]
    attributes: list[Attribute] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    mode: str = "hybrid"  # what ran: hybrid | dense | lexical
    confidence: float = 0.0  # engine.search.confidence; lexical coverage is probed only when the rest is short
    threshold: float = 0.0
    loose: bool = False  # confidence below the threshold: "loosely related"
    hidden: int = 0  # loosely related results held back (config search.loose = hide)
    exact: list[int] = field(default_factory=list)  # ids matched by sku or exact product name
    notes: list[str] = field(default_factory=list)
    searched: str = ""  # what the dense list searched for: the query in the catalog's words, less removed chips

    def to_json(self) -> dict:
        return {"query": self.query, "mode": self.mode, "confidence": round(self.confidence, 4),
                "threshold": self.threshold, "loose": self.loose, "hidden": self.hidden, "exact": self.exact,
                "attributes": [{"kind": a.kind, "value": a.value, "label": a.label, "words": list(a.words),
                                "how": a.how} for a in self.attributes],
                "ignored": self.ignored, "notes": self.notes, "searched": self.searched}


_PARSERS: dict[tuple, QueryParser] = {}


def parser_for(rec: Recommender) -> QueryParser:
    """One parser per catalog category tree and text encoder (category names are embedded once)."""
    nodes = rec.catalog.categories()  # counted once per catalog version by the catalog itself
    cats = tuple(CategoryInfo(c.id, c.name, c.path, c.parent_id, c.products) for c in nodes)
    encoder = rec.text_encoder
    key = (id(encoder), encoder.name, cats)
    parser = _PARSERS.get(key)
    if parser is None:
        if len(_PARSERS) >= 8:
            _PARSERS.clear()
        parser = _PARSERS[key] = QueryParser(cats, embed=lambda texts: encoder.encode(list(texts)))
    return parser


def _has(card: ProductCard, a: Attribute) -> bool:
    """Whether the product has one attribute. A category is matched under any gender (a men's jacket is a
    jacket); the gender is its own attribute."""
    ids = set(card.category_ids or ([card.category_id] if card.category_id is not None else []))
    if a.kind == "colour":
        return (card.colour or "").lower() == a.value
    if a.kind == "category":
        return bool(ids & set(a.any_ids or a.category_ids))
    if a.kind == "gender":
        return bool(ids & set(a.category_ids))
    return False


def _weight(a: Attribute) -> float:
    return CATEGORY_WEIGHT if a.kind == "category" else 1.0


def _matches(card: ProductCard, attrs: Sequence[Attribute]) -> float:
    """The weighted count of the query's preference attributes the product has: the category counts more
    than colour and gender together, since a product of another kind is not what the query asks for
    (a black jacket that is not a jacket is worse than a blue jacket)."""
    return sum(_weight(a) for a in attrs if _has(card, a))


def _reasons(rec: Recommendation, prefs: Sequence[Attribute], exact: Sequence[int],
             featured: frozenset[str]) -> list[str]:
    """Why a result is there, in the query's terms: an exact match, the attributes it has, or only relatedness
    (the reranker's own reasons speak of a source product, which a text query has not)."""
    if rec.product.id in exact:
        return ["exact match"]
    have = [a.label for a in prefs if _has(rec.product, a)]
    merch = [r for r in rec.reasons if r in featured]  # a merchant's pin says so, in any language
    return merch + (["matches " + ", ".join(have)] if have else ["related to the query"])


class TextSearch:
    """One text search through a recommender's parts and config (engine.recommend.facade.search_by_text)."""

    def __init__(self, rec: Recommender, rerank: Rerank, featured: Iterable[str] = ()):
        """`featured`: the reason texts a pinned product carries (kept in front of the query's reasons)."""
        self.rec, self.rerank, self.featured = rec, rerank, frozenset(featured)
        self.cfg = rec.config.search

    # ---- retrieval ----------------------------------------------------------------------------------------
    def _preference_filters(self, filters: Filters, attrs: Sequence[Attribute]) -> Filters | None:
        """The caller's filters narrowed to every preference attribute, where a store filter can say it."""
        f = replace(filters, colours=list(filters.colours), category_ids=list(filters.category_ids))
        colour = next((a for a in attrs if a.kind == "colour"), None)
        if colour is not None and not f.colours:
            f.colours = [colour.value]
        cats = [a for a in attrs if a.kind in ("category", "gender")]
        if cats and not f.category_ids:
            # the category attribute's ids already lie under the gender when both are named
            f.category_ids = list(next((a for a in cats if a.kind == "category"), cats[0]).category_ids)
        return None if (f.colours == filters.colours and f.category_ids == filters.category_ids) else f

    def _category_filters(self, filters: Filters, attrs: Sequence[Attribute]) -> Filters | None:
        """The caller's filters narrowed to the query's category under any gender, so products of the right
        kind but another colour or gender are in the pool too."""
        cat = next((a for a in attrs if a.kind == "category"), None)
        if cat is None or filters.category_ids:
            return None
        return replace(filters, category_ids=list(cat.any_ids or cat.category_ids), colours=list(filters.colours))

    def _lists(self, text: str, lexical_text: str, mode: str, filter_sets: Sequence[Filters], limit: int):
        """The dense list (cosine of `text`) and the lexical list (BM25 of `lexical_text`), each the union over
        the filter sets, best first: scores of one kind are comparable across filters, so the union is one
        ranking."""
        store = self.rec.store
        dense: dict[int, float] = {}
        lexical: dict[int, float] = {}
        if mode != "lexical":
            q = unit(self.rec.text_encoder.encode([text.strip()])[0])
            for f in filter_sets:
                hits = store.query(q, using="text", limit=limit, filters=f, with_payload=False)
                dense.update((h.id, h.score) for h in hits)
        sparse = encode_query(lexical_text) if mode != "dense" else None
        if sparse is not None:
            for f in filter_sets:
                hits = store.query_lexical(sparse, limit=limit, filters=f, with_payload=False)
                lexical.update((h.id, h.score) for h in hits)
        order = lambda d: sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))  # noqa: E731
        return order(dense), order(lexical)

    def _relevance(self, mode: str, dense, lexical) -> dict[int, float]:
        if mode == "dense":
            return {i: max(0.0, s) for i, s in dense}
        if mode == "lexical":
            top = lexical[0][1] if lexical else 1.0
            return {i: s / top for i, s in lexical}
        c = self.cfg
        return fuse(c.fusion, [dense, lexical], [c.dense_weight, c.lexical_weight], c.rrf_k)

    def _coverage(self, text: str, filters: Filters) -> float:
        """The share of the query's words (at most 8) that some product's lexical fields hold."""
        ws = list(dict.fromkeys(words(text)))[:8]
        if not ws:
            return 0.0
        found = sum(bool(self.rec.store.query_lexical(v, limit=1, filters=filters))
                    for w in ws if (v := encode_query(w)) is not None)
        return found / len(ws)

    def _exact(self, query: str, filters: Filters) -> list[ProductCard]:
        """Products whose sku or whole title is the query (folded): the sku first, then titles."""
        q = fold(query.strip())
        found = [c for c in self.rec.catalog.search(query.strip(), limit=50, active_only=True)
                 if (fold(c.sku) == q or fold(c.title) == q) and filters.matches(c)]
        return sorted(found, key=lambda c: fold(c.sku) != q)

    # ---- the search ---------------------------------------------------------------------------------------
    def run(self, query: str, n: int, filters: Filters, strategy: str | None = None, mode: str | None = None,
            ignore: Iterable[str] = (), understand: bool = True) -> TextSearchResult:
        mode = mode or "hybrid"
        if mode not in MODES:
            raise ValidationError(f"unknown search mode {mode!r}: use {', '.join(MODES)}")
        notes: list[str] = []
        if mode != "dense" and not self.rec.store.has_lexical():
            notes.append(NO_LEXICAL_NOTE)
            mode = "dense"
        parsed = parser_for(self.rec).parse(query, ignore) if understand else ParsedQuery(query)
        price = parsed.get("price")
        if price is not None:  # a price is a limit, intersected with the caller's
            lows = [x for x in (price.price_min, filters.price_min) if x is not None]
            highs = [x for x in (price.price_max, filters.price_max) if x is not None]
            lo, hi = (max(lows) if lows else None), (min(highs) if highs else None)
            if lo is not None and hi is not None and lo > hi:
                notes.append(f"the query's price ({price.value}) lies outside the price filter: nothing is in both")
                return TextSearchResult(query, [], parsed.attributes, parsed.ignored, mode, 1.0,
                                        float(self.cfg.min_confidence), notes=notes)
            filters = replace(filters, price_min=lo, price_max=hi)
        prefs = [a for a in parsed.attributes if a.kind != "price"]
        limit = max(MIN_POOL, n * OVERFETCH)
        narrowed = self._preference_filters(filters, prefs)
        dense_text = parsed.retrieval_text().strip() or query.strip()
        lexical_text = parsed.lexical_text().strip() or query
        skus = [c for c in query.split() if looks_like_sku(c)]  # each keeps its whole-sku term
        lexical_text = " ".join([lexical_text, *skus])
        dense, lexical = self._lists(dense_text, lexical_text, mode,
                                     [f for f in (narrowed, self._category_filters(filters, prefs), filters)
                                      if f is not None], limit)
        relevance = self._relevance(mode, dense, lexical)
        exact = self._exact(query, filters)
        items = self._ranked(relevance, prefs, exact, n, filters, strategy, mode, query.strip())
        evidence = Evidence(dense_top=max((s for _, s in dense), default=0.0), coverage=0.0,
                            attributes=len(parsed.attributes), exact=bool(exact), words=len(words(query)))
        conf = confidence(evidence)
        threshold = float(self.cfg.min_confidence)
        if conf < threshold and mode != "dense":  # the word probes cost a store query each: only when needed
            conf = confidence(replace(evidence, coverage=self._coverage(lexical_text, filters)))
        loose = conf < threshold and bool(items)
        hidden = 0
        if loose and self.cfg.loose == "hide":
            hidden, items = len(items), []
        return TextSearchResult(query, items, parsed.attributes, parsed.ignored, mode, conf, threshold, loose,
                                hidden, [c.id for c in exact], notes, dense_text)

    def _ranked(self, relevance: dict[int, float], prefs: Sequence[Attribute], exact: Sequence[ProductCard],
                n: int, filters: Filters, strategy: str | None, mode: str, query_text: str) -> list[Recommendation]:
        rec = self.rec
        ids = list(relevance) + [c.id for c in exact if c.id not in relevance]
        cards = rec.cards(ids)
        pop = rec.popularity()
        groups = sum(_weight(a) for a in prefs) + 1  # similarity stays in [0, 1]
        candidates = []
        for i in ids:
            card = cards.get(i)
            if card is None or not filters.matches(card):
                continue
            if pop:
                card = copied(card, popularity=pop.get(i, 0.0))
            sim = (_matches(card, prefs) + relevance.get(i, 0.0)) / groups
            candidates.append(Recommendation(product=card, score=sim, vector=f"text/{mode}", similarity=sim))
        if not candidates:
            return []
        strat = rec.config.strategy(strategy or self.cfg.strategy)
        div = rec.config.diversity
        ranked = self.rerank(None, candidates, strat, len(candidates), collapse_k=div.collapse_k,
                        rules=rec.config.rules, params=rec.config.factors, fetch_product=rec.pinned(filters),
                        boosts=rec.config.boosts, styles=rec.rule_styles(), now=datetime.now(timezone.utc))
        by_id = {c.product.id: c for c in candidates}
        matched = {r.product.id: _matches(r.product, prefs) for r in ranked}
        ranked.sort(key=lambda r: -matched[r.product.id])  # stable: within a group the strategy's order stays
        # Exact matches lead. Variants the config's collapse left out stay out (an exact name names a style),
        # except the product whose sku the query is, or one of the style when none of it is left.
        first = [c.id for c in exact]
        head = [r for i in first for r in ranked if r.product.id == i]
        must = [c.id for c in exact if fold(c.sku) == fold(query_text)] or ([first[0]] if first and not head else [])
        head = [by_id[i] for i in must if i in by_id and all(r.product.id != i for r in head)] + head
        out = head + [r for r in ranked if r.product.id not in first]
        return [replace(r, rank=k + 1, reasons=_reasons(r, prefs, first, self.featured))
                for k, r in enumerate(out[:n])]

