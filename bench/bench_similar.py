"""Similar-items latency vs the raw store query (demo size and a synthetic large catalog), the HNSW build,
and indexing throughput of the whole pipeline vs the encoders alone. Ratios come from one run.

    python bench/bench_similar.py [--n 100000] [--hnsw] [--queries 200] [--json]

The large catalog is synthesised from the real Luma vectors: each synthetic product copies a real one's
payload and SQL row (price jittered) and perturbs its text and image vectors with Gaussian noise, so the
vectors keep the clustered structure of real embeddings."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import selectinload  # noqa: E402

from engine.catalog.importers import import_magento  # noqa: E402
from engine.catalog.models import Product, ProductCategory, ProductImage  # noqa: E402
from engine.indexing.indexer import product_text  # noqa: E402
from engine.encoders.images import load_image  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.store import EdgeStore  # noqa: E402
from engine.store.base import PointRecord  # noqa: E402
from engine.types import Filters  # noqa: E402
from engine.store.vectors import combine, unit  # noqa: E402


def p50_ms(fn, items) -> float:
    times = []
    for it in items:
        t = time.perf_counter()
        fn(it)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def settings_for(folder: Path) -> Settings:
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url = folder, "", ""
    s.image_encoder = "descriptor"
    return s


def bench_indexing(rt: Runtime) -> dict:
    with rt.db.session() as s:
        products = list(s.scalars(select(Product).where(Product.is_active.is_(True))))
        texts = [product_text(p) for p in products]
        paths = [p.images[0].path for p in products if p.images]
    rt.text_encoder.encode(texts[:2])  # load the models outside the timed part
    rt.image_encoder.encode([load_image(paths[0], rt.settings.max_upload_bytes, rt.settings.max_pixels)])
    t = time.perf_counter()
    rt.text_encoder.encode(texts)
    rt.image_encoder.encode([load_image(p, rt.settings.max_upload_bytes, rt.settings.max_pixels) for p in paths])
    encoders_s = time.perf_counter() - t
    rep = rt.indexer.run(full=True)
    return {"products": len(products), "encoders_only_s": round(encoders_s, 2), "pipeline_s": round(rep.seconds, 2),
            "encoders_items_per_s": round(len(products) / encoders_s, 1),
            "pipeline_items_per_s": round(rep.encoded / rep.seconds, 1),
            "pipeline_over_encoders": round(rep.seconds / encoders_s, 2)}


def bench_demo(rt: Runtime, queries: int) -> dict:
    ids = rt.catalog.ids(active_only=True)[:queries]
    vecs = {h.id: h.vectors["combined"] for h in rt.store.retrieve(ids, with_vectors=["combined"])}
    raw = p50_ms(lambda i: rt.store.query(vecs[i], "combined", 12, Filters(exclude_ids=[i])), ids)
    plain = p50_ms(lambda i: rt.recommender().similar(i, n=12, strategy="relevance"), ids)
    balanced = p50_ms(lambda i: rt.recommender().similar(i, n=12, strategy="balanced"), ids)
    return {"catalog": len(rt.catalog.ids(active_only=True)), "raw_query_p50_ms": round(raw, 2),
            "similar_relevance_p50_ms": round(plain, 2), "similar_balanced_p50_ms": round(balanced, 2),
            "similar_over_raw": round(balanced / raw, 1)}


def bench_large(src: Runtime, n: int, queries: int, hnsw: bool, folder: Path) -> dict:
    rng = np.random.default_rng(11)
    with src.db.session() as s:
        base = list(s.scalars(select(Product).where(Product.is_active.is_(True))
                              .options(selectinload(Product.images), selectinload(Product.categories))))
        base_cats = {p.id: [c.id for c in p.categories] for p in base}
    hits = {h.id: h for h in src.store.retrieve([p.id for p in base], with_vectors=["text", "image", "combined"])}
    spec = src.store.spec()
    big = Runtime(settings_for(folder))
    # Categories copied so the synthetic products keep the real tree.
    with src.db.session() as s, big.db.session() as d:
        from engine.catalog.models import Category
        for c in s.scalars(select(Category).order_by(Category.id)):
            d.add(Category(id=c.id, name=c.name, parent_id=c.parent_id, path=c.path))
    t0 = time.perf_counter()
    rows, links, images = [], [], []
    for i in range(1, n + 1):
        p = base[(i - 1) % len(base)]
        rows.append(dict(id=i, sku=f"{p.sku}-{i}", title=p.title, description="", price=round(p.price * rng.uniform(.8, 1.2), 2),
                         stock_qty=p.stock_qty, colour=p.colour, is_active=True, group_key=f"{p.group_key}-{i // 5}",
                         category_id=p.category_id, attributes={}, views=0, sales=0, language="en"))
        links += [dict(product_id=i, category_id=c) for c in base_cats[p.id]]
        if p.images:
            images.append(dict(product_id=i, path=p.images[0].path, role="main", position=0))
    with big.db.session() as d:
        for chunk in range(0, n, 5000):
            d.execute(insert(Product), rows[chunk:chunk + 5000])
        for chunk in range(0, len(links), 10000):
            d.execute(insert(ProductCategory), links[chunk:chunk + 10000])
        for chunk in range(0, len(images), 10000):
            d.execute(insert(ProductImage), images[chunk:chunk + 10000])
    sql_s = time.perf_counter() - t0
    store = EdgeStore(folder / "qdrant", indexing_threshold_kb=10_000 if hnsw else 10 ** 9)
    big.__dict__["store"] = store
    store.open(spec, recreate=True)
    t0 = time.perf_counter()
    batch: list[PointRecord] = []
    for i in range(1, n + 1):
        p = base[(i - 1) % len(base)]
        h = hits[p.id]
        t = unit(h.vectors["text"] + rng.normal(0, 0.02, h.vectors["text"].shape))
        vecs = {"text": t}
        if "image" in h.vectors:
            im = unit(h.vectors["image"] + rng.normal(0, 0.02, h.vectors["image"].shape))
            vecs["image"], vecs["combined"] = im, combine(t, im, spec.text_weight)
        else:
            vecs["combined"] = h.vectors["combined"]
        payload = dict(h.payload, sku=rows[i - 1]["sku"], price=rows[i - 1]["price"], group_key=rows[i - 1]["group_key"])
        batch.append(PointRecord(i, vecs, payload))
        if len(batch) == 2000:
            store.upsert(batch)
            batch = []
    if batch:
        store.upsert(batch)
    store.flush()
    upsert_s = time.perf_counter() - t0
    qids = list(rng.choice(np.arange(1, n + 1), size=queries, replace=False))
    qv = {h.id: h.vectors["combined"] for h in store.retrieve(qids, with_vectors=["combined"])}
    leaf = Filters(category_ids=[base[0].category_id])
    out = {"n": n, "sql_insert_s": round(sql_s, 1), "upsert_s": round(upsert_s, 1),
           "exact_raw_p50_ms": round(p50_ms(lambda i: store.query(qv[i], "combined", 12, Filters()), qids), 2),
           "exact_raw_filtered_p50_ms": round(p50_ms(lambda i: store.query(qv[i], "combined", 12, leaf), qids), 2),
           "exact_similar_p50_ms": round(p50_ms(lambda i: big.recommender().similar(int(i), n=12), qids), 2)}
    out["exact_similar_over_raw"] = round(out["exact_similar_p50_ms"] / out["exact_raw_p50_ms"], 2)
    if hnsw:
        exact = {i: [h.id for h in store.query(qv[i], "combined", 10, Filters())] for i in qids}
        t0 = time.perf_counter()
        store.optimize()
        out["hnsw_build_s"] = round(time.perf_counter() - t0, 1)
        out["hnsw_raw_p50_ms"] = round(p50_ms(lambda i: store.query(qv[i], "combined", 12, Filters()), qids), 2)
        out["hnsw_similar_p50_ms"] = round(p50_ms(lambda i: big.recommender().similar(int(i), n=12), qids), 2)
        out["hnsw_recall@10"] = round(statistics.mean(
            len(set(exact[i]) & {h.id for h in store.query(qv[i], "combined", 10, Filters())}) / 10 for i in qids), 3)
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="synthetic catalog size")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--hnsw", action="store_true", help="also build the HNSW graph (minutes on 2 cores)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(settings_for(Path(tmp) / "demo"))
        import_magento(rt.db, rt.settings.catalog_dir)
        res["indexing"] = bench_indexing(rt)
        res["demo"] = bench_demo(rt, args.queries)
        if args.n:
            res["large"] = bench_large(rt, args.n, args.queries, args.hnsw, Path(tmp) / "large")
        rt.close()
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for section, vals in res.items():
            print(f"[{section}]")
            for k, v in vals.items():
                print(f"  {k:<28} {v}")


if __name__ == "__main__":
    main()
