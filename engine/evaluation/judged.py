"""Any shop's own judged queries, scored the way the built-in tasks are: a JSONL file, one query a line,
{"text": "..."} or {"image": "path"}, with "relevant": [sku, ...] and optionally "split": "tune" | "test"
(default "test": nothing in the engine is tuned on a shop's file). Relative image paths resolve against the
file's folder. Every figure is given for each k asked for, beside a random ranking and a keyword ranking (text)
or a colour histogram (photos)."""
from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Sequence

from engine.errors import NotFound, ValidationError
from engine.evaluation.items import load
from engine.evaluation.luma import check_ks, encoder_names
from engine.evaluation.photos import PhotoTasks
from engine.evaluation.report import EvaluationReport, Row, mean
from engine.evaluation.splits import SPLITS
from engine.evaluation.text import keyword_ranker
from engine.metrics import ndcg_at_k, precision_at_k, recall_at_k


def _parse(runtime, path: Path) -> list[dict]:
    queries = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {line_no}"
        try:
            q = json.loads(line)
            rel_skus = q["relevant"]
            if not isinstance(rel_skus, list) or not rel_skus:
                raise ValueError("'relevant' must be a non-empty list of skus")
        except (ValueError, KeyError, TypeError) as e:
            raise ValidationError(f"{where}: {e}") from None
        split = q.get("split", "test")
        if split not in SPLITS:
            raise ValidationError(f"{where}: split must be tune or test, got {split!r}")
        relevant = set()
        for sku in rel_skus:
            try:
                relevant.add(runtime.catalog.get(str(sku)).id)
            except NotFound:
                raise ValidationError(f"{where}: unknown sku {sku!r}") from None
        if isinstance(q.get("image"), str) and q["image"]:
            img = Path(q["image"])
            queries.append({"kind": "image", "query": str(img if img.is_absolute() else path.parent / img),
                            "relevant": relevant, "split": split})
        elif isinstance(q.get("text"), str) and q["text"].strip():
            queries.append({"kind": "text", "query": q["text"], "relevant": relevant, "split": split})
        else:
            raise ValidationError(f"{where}: a query needs 'text' or 'image'")
    if not queries:
        raise ValidationError(f"{path.name} holds no queries")
    return queries


def evaluate_queries(runtime, path: Path, k: int | Sequence[int] = 10, strategy: str | None = None,
                     details: bool = False, seed: int = 7, baseline_runs: int = 5) -> EvaluationReport:
    """Score a judged query file (see the module's docstring); the whole file is checked before any search."""
    t0 = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"query file {path} does not exist")
    ks = check_ks(k, runtime)
    queries = _parse(runtime, path)
    rep = EvaluationReport(encoders=encoder_names(runtime))
    runtime.config.strategy(strategy)  # an unknown strategy is refused before any search
    cat = load(runtime)
    rec = runtime.recommender()
    photos = PhotoTasks(runtime, cat, (), (), rep.encoders)
    keyword = keyword_ranker(cat)
    ids = sorted(cat.items)
    per: dict[tuple[str, str, str], list[dict[str, float]]] = {}

    def score(kind: str, method: str, split: str, ranked: list[int], relevant: set[int]) -> dict[str, float]:
        figures = {}
        for kk in ks:
            figures.update({f"Recall@{kk}": recall_at_k(ranked, relevant, kk),
                            f"NDCG@{kk}": ndcg_at_k(ranked, relevant, kk),
                            f"Precision@{kk}": precision_at_k(ranked, relevant, kk)})
        per.setdefault((kind, method, split), []).append(figures)
        return figures

    for q in queries:
        kind, relevant, split = q["kind"], q["relevant"], q["split"]
        if kind == "image":
            recs = rec.search_by_image(Path(q["query"]), n=max(ks), strategy=strategy)
            by_colour = photos.rank_by_histogram(photos.load_photo(q["query"]), max(ks))
            score(kind, "colour-histogram", split, by_colour, relevant)
        else:
            recs = rec.search_by_text(q["query"], n=max(ks), space="text", strategy=strategy)
            score(kind, "keyword", split, keyword(q["query"], max(ks)), relevant)
        for run in range(baseline_runs):
            score(kind, "random", split, random.Random(seed * 1000 + run).sample(ids, min(len(ids), max(ks))),
                  relevant)
        ranked = [r.product.id for r in recs]
        figures = score(kind, kind, split, ranked, relevant)
        if details:
            items = cat.items
            rep.details.append({"task": "judged", "split": split, "language": None, "query": q["query"],
                                "method": f"{kind}/{strategy or runtime.config.default_strategy}", "metrics": figures,
                                "relevant": sorted(items[i].sku for i in relevant if i in items),
                                "ranked": [{"sku": items[i].sku, "title": items[i].title, "relevant": i in relevant}
                                           for i in ranked if i in items]})
    for (kind, method, split), vals in per.items():
        runs = baseline_runs if method == "random" else 1
        encoder = rep.encoders.get(kind, "") if method == kind else ""
        for metric in vals[0]:
            rep.rows.append(Row("judged", metric, method, "included", mean([v[metric] for v in vals]),
                                len(vals) // runs, split, None, encoder))
    rep.seconds = time.perf_counter() - t0
    return rep
