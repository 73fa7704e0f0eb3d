"""Text search on judged sets: attribute queries per language (attribute Precision@k, graded NDCG@k and the share
answered "no good match"), and nonsense queries (the share answered "no good match": NoMatchRate).

Methods: `text/<strategy>` is text search as shoppers get it (exact matches, hybrid retrieval, query
understanding, the strategy's reranking); `text/hybrid`, `text/dense` and `bm25` are the retrieval alone — fused, the
dense list alone and the lexical list alone — without query understanding, ranked by relevance, so the
fusion is compared with its parts. Beside them: a random ranking, a keyword ranking (query words against the
product's title, category path and colour name, with a crude shared-prefix stem) and `ideal`, the best any
ranking can reach (every full match first): Precision@10 cannot exceed it when fewer than 10 products match,
so CappedPrecision@k (precision over min(k, full matches); 1.0 for `ideal`) is given beside it.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable, Sequence

from engine.catalog.colours import fold
from engine.evaluation.attributes import FULL, LANGUAGES, AttributeQuery, attribute_queries
from engine.evaluation.items import Catalog
from engine.evaluation.report import Row, mean
from engine.evaluation.splits import SPLIT_SEED, split_of

NONSENSE_SEED = 12
NONSENSE_GENERATED = 30
# Letters random strings are drawn from: Latin consonants, Cyrillic consonants, Turkish letters and rare Latin ones.
_ALPHABETS = ("bcdfghjklmnpqrstvwxz", "бвгджзклмнпрстфхцчшщ", "çğışöüqwxzj")
_TOKEN = re.compile(r"[^\W_]+")


def no_match(results: object) -> bool:
    """Whether the search answered "no good match": a text search result marked loosely related (or with
    nothing to show), or an empty list."""
    if hasattr(results, "loose"):
        return bool(results.loose) or not results.items  # type: ignore[attr-defined]
    return len(results) == 0  # type: ignore[arg-type]


def nonsense_queries(seed: int = NONSENSE_SEED, generated: int = NONSENSE_GENERATED) -> list[str]:
    """The fixed nonsense set: keyboard mash written by hand (queries/nonsense.txt), then random letter strings
    drawn from a seeded generator."""
    text = (resources.files("engine.evaluation") / "queries" / "nonsense.txt").read_text(encoding="utf-8")
    out = [line.strip() for line in text.splitlines() if line.strip()]
    rng = random.Random(seed)
    for i in range(generated):
        letters = _ALPHABETS[i % len(_ALPHABETS)]
        out.append(" ".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 10)))
                            for _ in range(rng.randint(1, 2))))
    return out


def graded_ndcg(gains: Sequence[float], ideal: Sequence[float], k: int) -> float:
    """NDCG@k with graded gains (the ranking's gains in order; `ideal` every gain the catalog holds)."""
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))
    best = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(ideal, reverse=True)[:k]))
    return dcg / best if best else 0.0


def capped_precision(ranked: Sequence[int], full: set[int], k: int) -> float:
    """Precision over min(k, number of full matches): Precision@k cannot exceed (full matches) / k when fewer
    than k products fully match, so this reads 1.0 for a ranking that shows every full match first, whatever
    the catalog holds. 0 when nothing fully matches."""
    cap = min(k, len(full))
    return sum(i in full for i in ranked[:cap]) / cap if cap else 0.0


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(fold(text)) if len(t) > 1]


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    n = min(len(a), len(b), 5)
    return n >= 4 and a[:n] == b[:n]


def keyword_ranker(cat: Catalog) -> Callable[[str, int], list[int]]:
    """Products ordered by how many query words their title, category path and colour name hold (ties by id)."""
    words = {i: set(_tokens(f"{it.title} {it.path.replace('/', ' ')} {it.colour or ''}"))
             for i, it in cat.items.items()}

    def rank(query: str, k: int) -> list[int]:
        q = _tokens(query)
        score = {i: sum(any(_same_word(t, w) for w in ws) for t in q) for i, ws in words.items()}
        return sorted(score, key=lambda i: (-score[i], i))[:k]
    return rank


@dataclass
class TextTasks:
    """Runs the attribute and nonsense sets through `text_search` of the live recommender."""

    runtime: object
    cat: Catalog
    ks: Sequence[int]
    strategies: Sequence[str]
    splits: Sequence[str]
    encoder: str
    seed: int = 7
    split_seed: int = SPLIT_SEED
    baseline_runs: int = 5
    max_queries: int | None = None
    keep_details: bool = False
    details: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (split, "real" | "nonsense", confidence) of every shipped text search, for the threshold's note
    confidences: list[tuple[str, str, float]] = field(default_factory=list)

    def _search(self, text: str, strategy: str, split: str = "", kind: str = "real") -> tuple[list[int], bool]:
        """The ranking of text search as shipped, and whether it answered "no good match"."""
        res = self.runtime.recommender().text_search(text, n=max(self.ks), strategy=strategy)
        self.confidences.append((split, kind, res.confidence))
        return [r.product.id for r in res.items], no_match(res)

    def _retrieval(self, text: str, mode: str) -> list[int]:
        """Retrieval alone (no query understanding), relevance order."""
        res = self.runtime.recommender().text_search(text, n=max(self.ks), strategy="relevance", mode=mode,
                                                     understand=False)
        return [r.product.id for r in res.items]

    def _sample(self, queries: list, rng: random.Random) -> list:
        if self.max_queries is None or len(queries) <= self.max_queries:
            return queries
        return [queries[i] for i in sorted(rng.sample(range(len(queries)), self.max_queries))]

    def _detail(self, task, split, language, query, method, ranked, grades, metrics):
        if not self.keep_details:
            return
        items = self.cat.items
        self.details.append({
            "task": task, "split": split, "language": language, "query": query, "method": method,
            "metrics": metrics,
            "relevant": [items[i].sku for i, g in grades.items() if g == FULL] if grades else [],
            "ranked": [{"sku": items[i].sku, "title": items[i].title, "grade": grades.get(i, 0) if grades else None,
                        "relevant": bool(grades) and grades.get(i) == FULL} for i in ranked]})

    # ---- attribute queries ----------------------------------------------------------------------------------
    def attribute_rows(self, tick: Callable[[], None] = lambda: None) -> list[Row]:
        rows: list[Row] = []
        items = self.cat.items
        queries = attribute_queries(it.attributes for it in items.values())
        judged: dict[tuple[str, str], list[tuple[AttributeQuery, dict[int, int]]]] = {}
        skipped = {lang: 0 for lang in LANGUAGES}
        for q in queries:
            grades = {i: g for i, it in items.items() if (g := q.grade(it.attributes))}
            if not any(g == FULL for g in grades.values()):
                skipped[q.language] += 1  # nothing in this catalog is what the query asks for
                continue
            judged.setdefault((q.language, q.split(self.split_seed)), []).append((q, grades))
        if any(skipped.values()):
            self.notes.append("attribute queries with no fully matching product in this catalog, left out: "
                              + ", ".join(f"{lang} {n}" for lang, n in skipped.items() if n))
        for split in self.splits:
            parts = []
            for lang in LANGUAGES:
                group = [q for q, _ in judged.get((lang, split), [])]
                if group:
                    parts.append(f"{lang} {len(group)} ({sum(q.source == 'hand' for q in group)} hand-written, "
                                 f"{sum(not q.in_lexicon for q in group)} off the colour lexicon)")
            if parts:
                self.notes.append(f"attribute queries, {split}: " + "; ".join(parts))
        rng = random.Random(self.seed)
        keyword = keyword_ranker(self.cat)
        ids = sorted(items)
        for (lang, split), group in sorted(judged.items()):
            if split not in self.splits:
                continue
            group = self._sample(group, rng)
            loose: dict[str, bool] = {}

            def shipped(text: str, s: str) -> list[int]:
                ranked, loose[text] = self._search(text, s, split)
                return ranked

            methods: dict[str, Callable[[str, random.Random], list[int]]] = {
                f"text/{s}": (lambda text, _r, s=s: shipped(text, s)) for s in self.strategies}
            shipped_methods = set(methods)
            lexical = self.runtime.store.has_lexical()
            for mode, name in (("hybrid", "text/hybrid"), ("dense", "text/dense"), ("lexical", "bm25")):
                if mode == "dense" or lexical:
                    methods[name] = lambda text, _r, mode=mode: self._retrieval(text, mode)
            methods["keyword"] = lambda text, _r: keyword(text, max(self.ks))
            methods["random"] = lambda _text, r: r.sample(ids, min(len(ids), max(self.ks)))
            by_text = {q.text: g for q, g in group}
            methods["ideal"] = lambda text, _r: sorted(by_text[text], key=lambda i: (-by_text[text][i], i))[
                :max(self.ks)]
            for method, fn in methods.items():
                runs = self.baseline_runs if method == "random" else 1
                prec = {k: [] for k in self.ks}
                capped = {k: [] for k in self.ks}
                ndcg = {k: [] for k in self.ks}
                empty = []
                for q, grades in group:
                    for run in range(runs):
                        ranked = fn(q.text, random.Random(self.seed * 1000 + run))
                        gains = [2 ** grades.get(i, 0) - 1 for i in ranked]
                        ideal = [2 ** g - 1 for g in grades.values()]
                        figures = {}
                        full = {i for i, g in grades.items() if g == FULL}
                        for k in self.ks:
                            prec[k].append(sum(grades.get(i) == FULL for i in ranked[:k]) / k)
                            capped[k].append(capped_precision(ranked, full, k))
                            ndcg[k].append(graded_ndcg(gains, ideal, k))
                            figures.update({f"Precision@{k}": prec[k][-1], f"CappedPrecision@{k}": capped[k][-1],
                                            f"NDCG@{k}": ndcg[k][-1]})
                        empty.append(float(loose.get(q.text, not ranked)))
                        if method.startswith("text/"):
                            self._detail("attribute", split, lang, q.text, method, ranked, grades, figures)
                    tick()
                enc = self.encoder if method.startswith("text/") else ""
                for k in self.ks:
                    rows.append(Row("attribute", f"Precision@{k}", method, "included", mean(prec[k]), len(group),
                                    split, lang, enc))
                    rows.append(Row("attribute", f"CappedPrecision@{k}", method, "included", mean(capped[k]),
                                    len(group), split, lang, enc))
                    rows.append(Row("attribute", f"NDCG@{k}", method, "included", mean(ndcg[k]), len(group),
                                    split, lang, enc))
                if method in shipped_methods:
                    rows.append(Row("attribute", "NoMatchRate", method, "included", mean(empty), len(group),
                                    split, lang, enc))
        return rows

    def attribute_count(self) -> int:
        """How many attribute queries there are, before judging and splitting (for the progress bar)."""
        return len(attribute_queries(it.attributes for it in self.cat.items.values()))

    def threshold_note(self) -> str | None:
        """Which "no good match" thresholds the tune split supports (≥ 95 % of nonsense below, ≤ 10 % of real
        queries below), beside the configured one: how search.min_confidence is chosen, on tune data only."""
        real = sorted(c for sp, k, c in self.confidences if sp == "tune" and k == "real")
        junk = sorted(c for sp, k, c in self.confidences if sp == "tune" and k == "nonsense")
        if not real or not junk:
            return None
        lo = junk[min(len(junk) - 1, math.ceil(0.95 * len(junk)) - 1)]  # ≥ 95 % of nonsense at or below
        hi = real[int(0.10 * len(real))]  # above it, more than 10 % of real queries would fall below
        now = self.runtime.config.search.min_confidence
        if lo >= hi:
            return (f"no-good-match threshold: the tune split supports none (nonsense up to {lo:.3f}, "
                    f"real from {hi:.3f})")
        return (f"no-good-match threshold: the tune split supports ({lo:.3f}, {hi:.3f}]; midpoint {(lo + hi) / 2:.3f}; "
                f"configured search.min_confidence {now:.3f}")

    @staticmethod
    def nonsense_count() -> int:
        return len(nonsense_queries())

    # ---- nonsense queries -----------------------------------------------------------------------------------
    def nonsense_rows(self, tick: Callable[[], None] = lambda: None) -> list[Row]:
        rows = []
        by_split: dict[str, list[str]] = {}
        for text in nonsense_queries():
            by_split.setdefault(split_of("nonsense:" + text, self.split_seed), []).append(text)
        rng = random.Random(self.seed)
        for split in self.splits:
            group = self._sample(by_split.get(split, []), rng)
            if not group:
                continue
            for strategy in self.strategies:
                method = f"text/{strategy}"
                answered = []
                for text in group:
                    ranked, loose = self._search(text, strategy, split, "nonsense")
                    answered.append(float(loose))
                    self._detail("nonsense", split, None, text, method, ranked, None,
                                 {"no_match": answered[-1]})
                    tick()
                rows.append(Row("nonsense", "NoMatchRate", method, "included", mean(answered), len(group), split,
                                None, self.encoder))
        note = self.threshold_note()
        if note:
            self.notes.append(note)
        return rows
