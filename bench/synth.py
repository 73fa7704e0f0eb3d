"""A large catalog synthesised from the real demo: a data folder the console, the service and the CLI open
like any other (SQLite catalog, embedded Qdrant shard, vector_sync rows, so nothing looks unindexed).

    python bench/synth.py --n 100000 --out /tmp/vitrina-100k [--source DIR] [--hnsw]

Each synthetic product copies a real Luma product's SQL row and payload (price jittered, group keys of five)
and perturbs its text and image vectors with Gaussian noise, so the vectors keep the clustered structure of
real embeddings (uniform random vectors would make HNSW recall and latency meaningless). Without --source
the Luma catalog is imported and indexed into a scratch folder first (~30 s)."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import selectinload  # noqa: E402

from engine.catalog.importers import import_magento  # noqa: E402
from engine.catalog.models import Category, Product, ProductCategory, ProductImage, VectorSync  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.store import EdgeStore  # noqa: E402
from engine.store.base import PointRecord  # noqa: E402
from engine.store.vectors import combine, unit  # noqa: E402

NOISE = 0.02


def settings_for(folder: Path) -> Settings:
    """Settings for a scratch data folder: SQLite and the embedded store inside it, the weight-free photo
    descriptor (no model download), nothing from the environment's DATABASE_URL / QDRANT_URL."""
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = Path(folder), "", "", ""
    s.image_encoder = "descriptor"
    return s


def demo_runtime(folder: Path) -> Runtime:
    """The Luma demo imported and indexed into `folder`."""
    rt = Runtime(settings_for(folder))
    import_magento(rt.db, rt.settings.catalog_dir)
    rt.indexer.run(full=True)
    return rt


def synthesise(src: Runtime, n: int, folder: Path, *, seed: int = 11,
               indexing_threshold_kb: int = 10 ** 9) -> dict:
    """Write an n-product catalog into `folder` (created; must not hold a catalog yet). Returns timings.
    The shard is left without an HNSW graph (exact search) unless the caller optimises it."""
    rng = np.random.default_rng(seed)
    with src.db.session() as s:
        base = list(s.scalars(select(Product).where(Product.is_active.is_(True)).order_by(Product.id)
                              .options(selectinload(Product.images), selectinload(Product.categories))))
        base_cats = {p.id: [c.id for c in p.categories] for p in base}
        syncs = {v.product_id: v for v in s.scalars(select(VectorSync))}
        cats = [dict(id=c.id, name=c.name, parent_id=c.parent_id, path=c.path)
                for c in s.scalars(select(Category).order_by(Category.id))]
    hits = {h.id: h for h in src.store.retrieve([p.id for p in base], with_vectors=["text", "image", "combined"])}
    base = [p for p in base if p.id in hits and p.id in syncs]
    spec = src.store.spec()
    big = Runtime(settings_for(folder))
    t0 = time.perf_counter()
    rows, links, images, sync_rows = [], [], [], []
    for i in range(1, n + 1):
        p = base[(i - 1) % len(base)]
        v = syncs[p.id]
        rows.append(dict(id=i, sku=f"{p.sku}-{i}", title=p.title, description=p.description or "",
                         price=round(p.price * rng.uniform(.8, 1.2), 2), stock_qty=p.stock_qty, colour=p.colour,
                         is_active=True, group_key=f"{p.group_key}-{i // 5}", category_id=p.category_id,
                         attributes=p.attributes or {}, views=0, sales=0, language=p.language, source="synth"))
        links += [dict(product_id=i, category_id=c) for c in base_cats[p.id]]
        if p.images:
            images.append(dict(product_id=i, path=p.images[0].path, role="main", position=0))
        sync_rows.append(dict(product_id=i, content_hash=v.content_hash, text_encoder=v.text_encoder,
                              image_encoder=v.image_encoder, text_weight=v.text_weight, has_image=v.has_image))
    with big.db.session() as d:
        d.execute(insert(Category), cats)
        for table, data in ((Product, rows), (ProductCategory, links), (ProductImage, images), (VectorSync, sync_rows)):
            for chunk in range(0, len(data), 5000):
                d.execute(insert(table), data[chunk:chunk + 5000])
    sql_s = time.perf_counter() - t0
    store = EdgeStore(big.settings.qdrant_path, indexing_threshold_kb=indexing_threshold_kb)
    store.open(spec, recreate=True)
    t0 = time.perf_counter()
    batch: list[PointRecord] = []
    for i in range(1, n + 1):
        p = base[(i - 1) % len(base)]
        h = hits[p.id]
        t = unit(h.vectors["text"] + rng.normal(0, NOISE, h.vectors["text"].shape))
        vecs = {"text": t}
        if "image" in h.vectors:
            im = unit(h.vectors["image"] + rng.normal(0, NOISE, h.vectors["image"].shape))
            vecs["image"], vecs["combined"] = im, combine(t, im, spec.text_weight)
        else:
            vecs["combined"] = t
        row = rows[i - 1]
        payload = dict(h.payload, sku=row["sku"], price=row["price"], group_key=row["group_key"])
        batch.append(PointRecord(i, vecs, payload))
        if len(batch) == 2000:
            store.upsert(batch)
            batch = []
    if batch:
        store.upsert(batch)
    store.flush()
    store.close()
    big.close()
    return {"n": n, "sql_insert_s": round(sql_s, 1), "upsert_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--out", type=Path, required=True, help="new data folder (VITRINA_DATA_DIR for the others)")
    ap.add_argument("--source", type=Path, help="an indexed demo data folder (default: import Luma into scratch)")
    ap.add_argument("--hnsw", action="store_true",
                    help="build the HNSW graph afterwards, as the background build does (minutes)")
    args = ap.parse_args()
    if (args.out / "qdrant").exists():
        sys.exit(f"{args.out} already holds a store; pick a new folder")
    with tempfile.TemporaryDirectory() as tmp:
        src = Runtime(settings_for(args.source)) if args.source else demo_runtime(Path(tmp))
        res = synthesise(src, args.n, args.out, indexing_threshold_kb=10_000 if args.hnsw else 10 ** 9)
        src.close()
    if args.hnsw:  # the production path: the background build (another process, float16 vectors, swapped in)
        store = EdgeStore(Path(args.out) / "qdrant")
        store.open(store.spec())
        report = store.build_graph(min_points=0)
        res["hnsw_build_s"] = round(report.seconds or 0.0, 1)
        store.close()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
