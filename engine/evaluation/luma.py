"""The built-in evaluation on a catalog with curated links (the Magento Luma demo): every task through the real
recommender and its store, each figure beside baselines (random, random within the query's leaf, a metadata
ranking, a keyword ranking, a colour histogram) so that each number has a reference.

Tasks: another view of a product (view), photos in the wild (wild), upsell links as relevant similar items
(upsell, judged on the styles a ranking shows since the links join styles), same-leaf precision (leaf),
complete the look against related / cross-sell links (look), judged attribute queries per language
(attribute) and nonsense queries (nonsense). "Similar items" figures are also given with the query's own style
excluded, because colour variants share their text and would otherwise be found for free.

Every query belongs to the tune or the test half (engine.evaluation.splits): strategy weights, thresholds and
photo parameters are tuned on `tune`, and what a release reports is `test`.
"""
from __future__ import annotations

import random
import time
from typing import Callable, Sequence

from engine.errors import NotFound, ValidationError, VitrinaError
from engine.evaluation.attributes import LANGUAGES
from engine.evaluation.items import Catalog, Item, load, require_ground_truth
from engine.evaluation.photos import PhotoTasks
from engine.evaluation.report import EvaluationReport, Row, mean
from engine.evaluation.splits import SPLIT_SEED, check_splits
from engine.evaluation.text import TextTasks
from engine.evaluation.wild import WildRecipe
from engine.merchandising.looks import evaluate_looks
from engine.merchandising.snapshot import look_sample, snapshot
from engine.metrics import ndcg_at_k, precision_at_k, recall_at_k

Progress = Callable[[int, int], None]
TASKS = ("view", "wild", "upsell", "leaf", "look", "attribute", "nonsense")
_NEEDS_LINKS = ("upsell", "look")


def encoder_names(runtime) -> dict:
    """The encoders whose vectors are in the index (what every figure was measured with)."""
    spec = runtime.store.spec()
    if spec is None:
        raise VitrinaError("the vector index is empty: run `python -m engine index` first")
    return {"text": spec.text_encoder, "image": spec.image_encoder, "text_weight": spec.text_weight}


def check_ks(ks: int | Sequence[int], runtime) -> tuple[int, ...]:
    values = (ks,) if isinstance(ks, int) else tuple(dict.fromkeys(ks))
    top = runtime.settings.max_results
    if not values or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= top for k in values):
        raise ValidationError(f"k must be whole numbers within 1..{top}, got {list(values)}")
    return tuple(sorted(values))


class Evaluator:
    """Runs the tasks on one split or both. `k` may be one cut-off or several (every @k metric is given for each)."""

    def __init__(self, runtime, k: int | Sequence[int] = 10, seed: int = 7, baseline_runs: int = 5,
                 splits: Sequence[str] = ("test",), split_seed: int = SPLIT_SEED,
                 wild: WildRecipe | None = None, details: bool = False):
        self.rt, self.seed, self.baseline_runs = runtime, seed, baseline_runs
        self.ks = check_ks(k, runtime)
        self.k = max(self.ks)
        self.splits, self.split_seed = check_splits(splits), split_seed
        self.wild, self.details = wild or WildRecipe(), details

    def run(self, kinds: Sequence[str] = ("text", "image", "combined"), strategies: Sequence[str] | None = None,
            progress: Progress | None = None, max_queries: int | None = None,
            tasks: Sequence[str] = TASKS) -> EvaluationReport:
        t0 = time.perf_counter()
        unknown = [t for t in tasks if t not in TASKS]
        if unknown:
            raise ValidationError(f"unknown task {', '.join(unknown)}: use {', '.join(TASKS)}")
        cat = load(self.rt)
        if any(t in tasks for t in _NEEDS_LINKS):
            require_ground_truth(cat)
        rep = EvaluationReport(encoders=encoder_names(self.rt))
        if strategies is None:
            strategies = tuple(dict.fromkeys(("relevance", self.rt.config.default_strategy)))
        for s in strategies:
            self.rt.config.strategy(s)  # an unknown strategy is refused before any work
        text = TextTasks(self.rt, cat, self.ks, strategies, self.splits, rep.encoders["text"], seed=self.seed,
                         split_seed=self.split_seed, baseline_runs=self.baseline_runs, max_queries=max_queries,
                         keep_details=self.details)
        photos = PhotoTasks(self.rt, cat, strategies, self.splits, rep.encoders, self.wild, self.split_seed,
                            max_queries, self.details)
        up, leaf = self._queries(cat, max_queries)
        n_up, n_leaf = (sum(len(v) for v in up.values()), sum(len(v) for v in leaf.values()))
        share = len(self.splits) / 2  # about half of every set is in each split

        def capped(n: int) -> int:
            n = int(n * share)
            return n if max_queries is None else min(n, max_queries * len(self.splits))

        sizes = {"view": capped(photos.view_count()), "wild": capped(photos.wild_count()),
                 "attribute": capped(text.attribute_count() // len(LANGUAGES)) * len(LANGUAGES) * (len(strategies) + 2),
                 "nonsense": capped(text.nonsense_count()) * len(strategies),
                 "upsell": n_up * len(kinds) * len(strategies) * 2, "leaf": n_leaf * len(kinds) * len(strategies) * 2}
        total, done = max(1, sum(sizes.get(t, 0) for t in tasks)), [0]

        def tick():
            done[0] += 1
            if progress and (done[0] % 10 == 0 or done[0] == total):
                progress(min(done[0], total), total)

        if "view" in tasks:
            rep.rows += photos.view_rows(tick)
        if "wild" in tasks:
            rep.rows += photos.wild_rows(tick)
        if "upsell" in tasks or "leaf" in tasks:
            rep.rows += self._similar_rows(cat, up if "upsell" in tasks else {}, leaf if "leaf" in tasks else {},
                                           kinds, strategies, tick)
        if "look" in tasks:
            rep.rows += self._look_rows(cat)
        if "attribute" in tasks:
            rep.rows += text.attribute_rows(tick)
        if "nonsense" in tasks:
            rep.rows += text.nonsense_rows(tick)
        rep.notes += text.notes + photos.notes
        rep.details = text.details + photos.details
        if progress:
            progress(total, total)
        rep.seconds = time.perf_counter() - t0
        return rep

    def _queries(self, cat: Catalog, max_queries: int | None) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Upsell and leaf queries of each split asked for (sampled to `max_queries` each when given)."""
        rng = random.Random(self.seed)
        up: dict[str, list[int]] = {s: [] for s in self.splits}
        leaf: dict[str, list[int]] = {s: [] for s in self.splits}
        for pid, it in sorted(cat.items.items()):
            split = it.split(self.split_seed)
            if split in up:
                if pid in cat.upsell:
                    up[split].append(pid)
                if it.leaf is not None:
                    leaf[split].append(pid)
        for group in (up, leaf):
            for s, ids in group.items():
                if max_queries is not None and len(ids) > max_queries:
                    group[s] = sorted(rng.sample(ids, max_queries))
        return up, leaf

    def _similar(self, pid: int, kind: str, strategy: str, own: str) -> list[int] | None:
        try:
            recs = self.rt.recommender().similar(pid, by=kind, n=self.k, strategy=strategy,
                                               exclude_same_style=own == "excluded")
        except NotFound:  # e.g. no photo vector for an image query
            return None
        return [r.product.id for r in recs]

    def _scores(self, cat: Catalog, up: list[int], leaf: list[int], rank: Callable[[int], list[int] | None],
                tick: Callable[[], None]) -> dict[str, list[float]]:
        items, out = cat.items, {}
        for pid in up:
            ranked = rank(pid)
            if ranked is not None:
                styles, rel = _styles(ranked, items), {items[i].group for i in cat.upsell[pid]}
                for k in self.ks:
                    out.setdefault(f"upsell Recall@{k}", []).append(recall_at_k(styles, rel, k))
                    out.setdefault(f"upsell NDCG@{k}", []).append(ndcg_at_k(styles, rel, k))
            tick()
        for pid in leaf:
            ranked = rank(pid)
            if ranked is not None:
                rel = {i for i, it in items.items() if it.leaf == items[pid].leaf and i != pid}
                for k in self.ks:
                    out.setdefault(f"leaf Precision@{k}", []).append(precision_at_k(ranked, rel, k))
            tick()
        return out

    def _similar_rows(self, cat: Catalog, up: dict[str, list[int]], leaf: dict[str, list[int]],
                      kinds: Sequence[str], strategies: Sequence[str], tick) -> list[Row]:
        rows: list[Row] = []
        enc = encoder_names(self.rt)
        encoder = {"text": enc["text"], "image": enc["image"], "combined": f"{enc['text']}+{enc['image']}"}
        for split in self.splits:
            su, sl = up.get(split, []), leaf.get(split, [])
            for own in ("included", "excluded"):
                for kind in kinds:
                    for strat in strategies:
                        scores = self._scores(cat, su, sl, lambda p: self._similar(p, kind, strat, own), tick)
                        rows += _rows(scores, f"{kind}/{strat}", own, split, encoder.get(kind, ""))
                for name, fn in _baselines(cat.items).items():
                    runs = self.baseline_runs if name.startswith("random") else 1
                    merged: dict[str, list[float]] = {}
                    for run in range(runs):
                        brng = random.Random(self.seed * 1000 + run)
                        scores = self._scores(cat, su, sl, lambda p: fn(p, own == "excluded", brng, self.k * 6),
                                              lambda: None)
                        for key, vals in scores.items():
                            merged.setdefault(key, []).extend(vals)
                    rows += _rows(merged, name, own, split, "", runs)
        return rows

    def _look_rows(self, cat: Catalog) -> list[Row]:
        """Complete the look: the share of look items whose style the related / cross-sell links join to the
        source, beside random picks within the same complementary categories, on the sample's split halves."""
        rows = []
        sample = look_sample(snapshot(self.rt))
        for split in self.splits:
            ids = [i for i in sample if i in cat.items and cat.items[i].split(self.split_seed) == split]
            if not ids:
                continue
            looks = evaluate_looks(self.rt, self.rt.config, ids)
            if looks.queries:
                rows.append(Row("look", "linked share", "combined/look", "included", looks.rate, looks.queries, split,
                                None, "combined"))
                rows.append(Row("look", "linked share", "random-in-target", "included", looks.baseline,
                                looks.queries, split))
        return rows


def _rows(scores: dict[str, list[float]], method: str, own: str, split: str, encoder: str,
          runs: int = 1) -> list[Row]:
    out = []
    for key, vals in scores.items():
        task, metric = key.split(" ", 1)
        if vals:
            out.append(Row(task, metric, method, own, mean(vals), len(vals) // runs, split, None, encoder))
    return out


def _styles(ranked: Sequence[int], items: dict[int, Item]) -> list[str]:
    """Upsell links join styles, not colours: a ranking is judged by the styles it shows, first seen first."""
    return list(dict.fromkeys(items[i].group for i in ranked))


def _baselines(items: dict[int, Item]) -> dict[str, Callable]:
    ids = sorted(items)
    by_leaf: dict[int | None, list[int]] = {}
    for i, it in items.items():
        by_leaf.setdefault(it.leaf, []).append(i)

    def pool(pid, excl, members):
        g = items[pid].group
        return [i for i in members if i != pid and not (excl and items[i].group == g)]

    def rand(pid, excl, rng, k):
        members = pool(pid, excl, ids)
        return rng.sample(members, min(k, len(members)))

    def rand_leaf(pid, excl, rng, k):
        same = pool(pid, excl, by_leaf.get(items[pid].leaf, []))
        rng.shuffle(same)
        taken = set(same)
        rest = [i for i in pool(pid, excl, ids) if i not in taken]
        return (same + rng.sample(rest, min(len(rest), max(0, k - len(same)))))[:k]

    def metadata(pid, excl, rng, k):
        p = items[pid].price
        same = sorted(pool(pid, excl, by_leaf.get(items[pid].leaf, [])), key=lambda i: (abs(items[i].price - p), i))
        rest = sorted((i for i in pool(pid, excl, ids) if items[i].leaf != items[pid].leaf),
                      key=lambda i: (abs(items[i].price - p), i))
        return (same + rest)[:k]

    return {"random": rand, "random-in-leaf": rand_leaf, "metadata": metadata}
