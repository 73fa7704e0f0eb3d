"""Offline evaluation: ranking metrics, the Luma ground-truth tasks with baselines, and a generic judged-query
runner so any shop's queries are scored the same way.

Every figure is printed beside baselines (random, random within the query's leaf, a metadata ranking) so
each number has a reference; "similar items" figures are also given with the query's own style excluded,
because colour variants share their text and would otherwise be found for free. Upsell links join styles,
so the upsell task is judged on the styles a ranking shows.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.catalog.models import Product, ProductLink
from engine.errors import NotFound, ValidationError, VitrinaError
from engine.encoders.images import load_image
from engine.merchandising.looks import evaluate_looks
from engine.store.vectors import query_combined
from engine.metrics import hit_at_k, ndcg_at_k, precision_at_k, recall_at_k
from engine.types import Filters

Progress = Callable[[int, int], None]


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


# ---- results ---------------------------------------------------------------------------------------
@dataclass
class Row:
    task: str  # view / upsell / leaf
    metric: str  # e.g. Recall@1
    method: str  # vector kind + strategy, or a baseline name
    own_style: str  # "included" | "excluded"
    value: float
    queries: int


@dataclass
class EvaluationReport:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    encoders: dict = field(default_factory=dict)

    def value(self, task: str, metric: str, method: str, own_style: str = "included") -> float:
        for r in self.rows:
            if (r.task, r.metric, r.method, r.own_style) == (task, metric, method, own_style):
                return r.value
        raise KeyError((task, metric, method, own_style))

    def to_json(self) -> dict:
        return {"seconds": round(self.seconds, 2), "encoders": self.encoders, "rows": [asdict(r) for r in self.rows]}

    def table(self) -> str:
        keys = sorted({(r.task, r.metric, r.own_style) for r in self.rows}, key=lambda k: (
            ["view", "upsell", "leaf", "look", "judged"].index(k[0])
            if k[0] in ("view", "upsell", "leaf", "look", "judged") else 9,
            k[1], k[2]))
        methods = list(dict.fromkeys(r.method for r in self.rows))
        vals = {(r.task, r.metric, r.own_style, r.method): r.value for r in self.rows}
        head = ["task", "metric", "own style"] + methods
        lines = [head]
        for k in keys:
            lines.append([k[0], k[1], k[2]] + [f"{vals[k + (m,)]:.3f}" if k + (m,) in vals else "—" for m in methods])
        widths = [max(len(str(r[i])) for r in lines) for i in range(len(head))]
        out = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in lines]
        out.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(out)


# ---- the Luma tasks --------------------------------------------------------------------------------
@dataclass
class _Item:
    id: int
    group: str
    leaf: int | None
    price: float
    alt_images: list[str]


class Evaluator:
    """Runs the ground-truth tasks through the real recommender (and its store) plus baselines."""

    def __init__(self, runtime, k: int = 10, seed: int = 7, baseline_runs: int = 5):
        self.rt, self.k, self.seed, self.baseline_runs = runtime, k, seed, baseline_runs

    def _items(self) -> tuple[dict[int, _Item], dict[int, set[int]]]:
        with self.rt.db.session() as s:
            products = s.scalars(select(Product).where(Product.is_active.is_(True))
                                 .options(selectinload(Product.images))).all()
            items = {p.id: _Item(p.id, p.group_key or p.sku, p.category_id, float(p.price or 0),
                                 [im.path for im in p.images if im.role in ("alt", "back")]) for p in products}
            upsell: dict[int, set[int]] = {}
            for src, dst in s.execute(select(ProductLink.product_id, ProductLink.linked_id)
                                      .where(ProductLink.kind == "upsell")):
                if src in items and dst in items:
                    upsell.setdefault(src, set()).add(dst)
        return items, upsell

    def run(self, kinds: Sequence[str] = ("text", "image", "combined"), strategies: Sequence[str] = ("relevance", "balanced"),
            progress: Progress | None = None, max_queries: int | None = None) -> EvaluationReport:
        t0 = time.perf_counter()
        items, upsell = self._items()
        if not items:
            raise VitrinaError("the catalog is empty: import one first")
        indexed = self.rt.store.spec()
        if indexed is None:
            raise VitrinaError("the vector index is empty: run `python -m engine index` first")
        rep = EvaluationReport(encoders={"text": indexed.text_encoder, "image": indexed.image_encoder,
                                         "text_weight": indexed.text_weight})
        rng = random.Random(self.seed)
        all_ids = sorted(items)
        leaf_queries = all_ids if max_queries is None else rng.sample(all_ids, min(max_queries, len(all_ids)))
        up_queries = sorted(upsell) if max_queries is None else sorted(upsell)[:max_queries]
        view_queries = [(i, p) for i in all_ids for p in items[i].alt_images[:1]]
        if max_queries is not None:
            view_queries = view_queries[:max_queries]
        total = (len(view_queries) + (len(up_queries) + len(leaf_queries)) * len(kinds) * len(strategies) * 2)
        done = [0]

        def tick():
            done[0] += 1
            if progress and (done[0] % 10 == 0 or done[0] == total):
                progress(done[0], total)

        # (a) another view of the same item: a photo query must find the item itself.
        if "image" in kinds or "combined" in kinds:
            ranks: dict[str, list[list[int]]] = {"image": [], "combined": []}
            spec = indexed
            for pid, path in view_queries:
                img = load_image(path, self.rt.settings.max_upload_bytes, self.rt.settings.max_pixels)
                vec = self.rt.image_encoder.encode([img])[0]
                for kind in ("image", "combined"):
                    if kind not in kinds:
                        continue
                    q = vec if kind == "image" else query_combined(None, vec, spec.text_weight, spec.text_dim, spec.image_dim)
                    hits = self.rt.store.query(q, using=kind, limit=5, filters=Filters())
                    ranks[kind].append([h.id for h in hits])
                tick()
            for kind, lists in ranks.items():
                if not lists:
                    continue
                for kk in (1, 5):
                    vals = [hit_at_k(lst, {pid}, kk) for lst, (pid, _) in zip(lists, view_queries)]
                    rep.rows.append(Row("view", f"Recall@{kk}", kind, "included", _mean(vals), len(vals)))
            n = len(items)
            for kk in (1, 5):  # a random ranking finds the one target within k with probability k/(n)
                rep.rows.append(Row("view", f"Recall@{kk}", "random", "included", kk / n, len(view_queries)))

        # (b) upsell links as relevant similar items, (c) same leaf category precision.
        for own in ("included", "excluded"):
            for kind in kinds:
                for strat in strategies:
                    method = f"{kind}/{strat}"
                    r10, nd, pr = [], [], []
                    for pid in up_queries:
                        ranked = self._similar(pid, kind, strat, own)
                        if ranked is not None:
                            styles, rel = _styles(ranked, items), {items[i].group for i in upsell[pid]}
                            r10.append(recall_at_k(styles, rel, self.k))
                            nd.append(ndcg_at_k(styles, rel, self.k))
                        tick()
                    for pid in leaf_queries:
                        ranked = self._similar(pid, kind, strat, own)
                        if ranked is not None and items[pid].leaf is not None:
                            rel = {i for i, it in items.items() if it.leaf == items[pid].leaf and i != pid}
                            pr.append(precision_at_k(ranked, rel, self.k))
                        tick()
                    rep.rows.append(Row("upsell", f"Recall@{self.k}", method, own, _mean(r10), len(r10)))
                    rep.rows.append(Row("upsell", f"NDCG@{self.k}", method, own, _mean(nd), len(nd)))
                    rep.rows.append(Row("leaf", f"Precision@{self.k}", method, own, _mean(pr), len(pr)))
            for name, fn in self._baselines(items).items():
                r10, nd, pr = [], [], []
                for run in range(self.baseline_runs if name.startswith("random") else 1):
                    brng = random.Random(self.seed * 1000 + run)
                    for pid in up_queries:
                        styles = _styles(fn(pid, own == "excluded", brng, self.k * 6), items)
                        rel = {items[i].group for i in upsell[pid]}
                        r10.append(recall_at_k(styles, rel, self.k))
                        nd.append(ndcg_at_k(styles, rel, self.k))
                    for pid in leaf_queries:
                        if items[pid].leaf is None:
                            continue
                        ranked = fn(pid, own == "excluded", brng, self.k)
                        rel = {i for i, it in items.items() if it.leaf == items[pid].leaf and i != pid}
                        pr.append(precision_at_k(ranked, rel, self.k))
                rep.rows.append(Row("upsell", f"Recall@{self.k}", name, own, _mean(r10), len(up_queries)))
                rep.rows.append(Row("upsell", f"NDCG@{self.k}", name, own, _mean(nd), len(up_queries)))
                rep.rows.append(Row("leaf", f"Precision@{self.k}", name, own, _mean(pr), len(leaf_queries)))
        # (d) complete the look: share of look items whose style the curated related / cross-sell links join
        # to the source, beside picking at random within the same complementary categories.
        looks = evaluate_looks(self.rt, self.rt.config)
        rep.rows.append(Row("look", "linked share", "combined/look", "included", looks.rate, looks.queries))
        rep.rows.append(Row("look", "linked share", "random-in-target", "included", looks.baseline, looks.queries))
        rep.seconds = time.perf_counter() - t0
        return rep

    def _similar(self, pid: int, kind: str, strategy: str, own: str) -> list[int] | None:
        try:
            recs = self.rt.recommender().similar(pid, by=kind, n=self.k, strategy=strategy,
                                               exclude_same_style=own == "excluded")
        except NotFound:  # e.g. no photo vector for an image query
            return None
        return [r.product.id for r in recs]

    def _baselines(self, items: dict[int, _Item]) -> dict[str, Callable]:
        ids = sorted(items)
        by_leaf: dict[int | None, list[int]] = {}
        for i, it in items.items():
            by_leaf.setdefault(it.leaf, []).append(i)

        def pool(pid, excl, members):
            g = items[pid].group
            return [i for i in members if i != pid and not (excl and items[i].group == g)]

        def rand(pid, excl, rng, k):
            return rng.sample(pool(pid, excl, ids), k)

        def rand_leaf(pid, excl, rng, k):
            same = pool(pid, excl, by_leaf.get(items[pid].leaf, []))
            rng.shuffle(same)
            rest = [i for i in pool(pid, excl, ids) if i not in set(same)]
            return (same + rng.sample(rest, max(0, k - len(same))))[:k]

        def metadata(pid, excl, rng, k):
            p = items[pid].price
            same = sorted(pool(pid, excl, by_leaf.get(items[pid].leaf, [])), key=lambda i: (abs(items[i].price - p), i))
            rest = sorted((i for i in pool(pid, excl, ids) if items[i].leaf != items[pid].leaf),
                          key=lambda i: (abs(items[i].price - p), i))
            return (same + rest)[:k]

        return {"random": rand, "random-in-leaf": rand_leaf, "metadata": metadata}


def _styles(ranked: Sequence[int], items: dict[int, _Item]) -> list[str]:
    """Upsell links join styles, not colours: a ranking is judged by the styles it shows, first seen first."""
    return list(dict.fromkeys(items[i].group for i in ranked))


# ---- generic judged queries ------------------------------------------------------------------------
def evaluate_queries(runtime, path: Path, k: int = 10, strategy: str | None = None) -> EvaluationReport:
    """Score judged queries, one JSON object a line: {"text": "..."} or {"image": "path"}, with
    "relevant": [sku, ...]. Relative image paths resolve against the file's folder."""
    t0 = time.perf_counter()
    path = Path(path)
    if not path.exists():
        raise NotFound(f"query file {path} does not exist")
    rep = EvaluationReport()
    rec = runtime.recommender()
    per: dict[str, list[tuple[float, float, float]]] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            rel_skus = q["relevant"]
            if not isinstance(rel_skus, list) or not rel_skus:
                raise ValueError("'relevant' must be a non-empty list of skus")
        except (ValueError, KeyError, TypeError) as e:
            raise ValidationError(f"{path.name} line {line_no}: {e}") from None
        relevant = set()
        for sku in rel_skus:
            try:
                relevant.add(runtime.catalog.get(str(sku)).id)
            except NotFound:
                raise ValidationError(f"{path.name} line {line_no}: unknown sku {sku!r}") from None
        if "image" in q:
            img = Path(q["image"])
            img = img if img.is_absolute() else path.parent / img
            recs, kind = rec.search_by_image(img, n=k, strategy=strategy), "image"
        elif "text" in q:
            recs, kind = rec.search_by_text(q["text"], n=k, space="text", strategy=strategy), "text"
        else:
            raise ValidationError(f"{path.name} line {line_no}: a query needs 'text' or 'image'")
        ranked = [r.product.id for r in recs]
        per.setdefault(kind, []).append((recall_at_k(ranked, relevant, k), ndcg_at_k(ranked, relevant, k),
                                         precision_at_k(ranked, relevant, k)))
    if not per:
        raise ValidationError(f"{path.name} holds no queries")
    for kind, vals in per.items():
        for j, metric in enumerate((f"Recall@{k}", f"NDCG@{k}", f"Precision@{k}")):
            rep.rows.append(Row("judged", metric, kind, "included", _mean([v[j] for v in vals]), len(vals)))
    rep.seconds = time.perf_counter() - t0
    return rep
