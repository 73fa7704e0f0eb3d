"""Keeps the vector store in step with the SQL catalog: incremental and full indexing, drift check and repair.

A point's id is its product id and the sync row is written only after its batch is in the store, so a run
killed at any moment is resumed by running again: nothing is duplicated, nothing half-synced is trusted.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import datetime
from typing import Callable, Sequence

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload

from engine.catalog.db import Database
from engine.catalog.models import Brand, Category, IndexError_, Product, VectorSync, utcnow
from engine.encoders.base import ImageEncoder, TextEncoder
from engine.errors import VitrinaError
from engine.encoders.images import load_image
from engine.store.base import CollectionSpec, PointRecord, VectorStore
from engine.indexing.reports import Batch, DriftReport, Encoded, IndexReport, IndexStatus, Plan, ProductError
from engine.search.sparse import ProductText, encode_document
from engine.store.vectors import SparseVector, combine, text_only_combined

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
DESCRIPTION_CHARS = 600


def product_text(p: Product) -> str:
    """The text a product is embedded from: title, leaf category and the start of the description."""
    parts = [p.title.strip()]
    if p.category is not None:
        parts.append(p.category.name)
    desc = (p.description or "").strip()
    if desc:
        parts.append(desc[:DESCRIPTION_CHARS])
    return ". ".join(x for x in parts if x)


# Attribute values that say nothing a shopper types (flags) and attributes that are bookkeeping.
_FLAG_VALUES = frozenset({"yes", "no", "true", "false", "0", "1"})
_SKIPPED_ATTRIBUTES = frozenset({"attribute_set"})


def lexical_text(p: Product) -> ProductText:
    """The fields the lexical vector is made of: title, sku, brand, category path, colour and the attribute
    values a shopper may type (material, pattern, activity...), flags left out."""
    values: list[str] = [p.colour] if p.colour else []
    for key, raw in sorted((p.attributes or {}).items()):
        if key in _SKIPPED_ATTRIBUTES:
            continue
        for v in raw if isinstance(raw, list) else [raw]:
            if isinstance(v, str) and v.strip() and v.strip().lower() not in _FLAG_VALUES:
                values.append(v.strip()[:100])
    return ProductText(title=p.title or "", sku=p.sku or "", brand=p.brand.name if p.brand else "",
                       category=p.category.path if p.category is not None else "", attributes=tuple(values[:40]))


def content_hash(p: Product) -> str:
    """Changes exactly when the vectors would: text inputs (the dense text and the lexical fields) and the main
    photo (path, size, mtime)."""
    h = hashlib.sha256(product_text(p).encode())
    h.update(repr(lexical_text(p)).encode())
    if p.images:
        path = p.images[0].path
        h.update(path.encode())
        try:
            st = os.stat(path)
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()


def category_chain(p: Product, parents: dict[int, int | None]) -> list[int]:
    out: list[int] = []
    cid = p.category_id
    while cid is not None and cid not in out:
        out.append(cid)
        cid = parents.get(cid)
    return out


def compared_payload(sku: str, price, is_active, stock_qty, category_id: int | None, colour: str | None,
                     brand: str | None, group_key: str | None) -> dict:
    """The payload fields the drift check compares (PAYLOAD_COMPARED), from plain column values: the check reads
    them for every product without loading ORM objects."""
    return {
        "leaf_category_id": category_id if category_id is not None else -1,
        "price": float(price or 0.0),
        "brand": brand or "",
        "colour": (colour or "").lower(),
        "group_key": group_key or sku,
        "is_active": int(bool(is_active)),
        "in_stock": int((stock_qty or 0) > 0),
    }


def payload_for(p: Product, parents: dict[int, int | None], has_image: bool) -> dict:
    extra = {c.id for c in p.categories}  # collections etc. also filterable
    for c in list(extra):
        extra.update(category_chain_by_id(c, parents))
    return {
        "sku": p.sku,
        "category_ids": sorted(set(category_chain(p, parents)) | extra),
        **compared_payload(p.sku, p.price, p.is_active, p.stock_qty, p.category_id, p.colour,
                           p.brand.name if p.brand else None, p.group_key),
        "has_image": int(has_image),
        "created_at": (p.created_at or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def category_chain_by_id(cid: int, parents: dict[int, int | None]) -> list[int]:
    out: list[int] = []
    cur: int | None = cid
    while cur is not None and cur not in out:
        out.append(cur)
        cur = parents.get(cur)
    return out


def index_status(db: Database) -> IndexStatus:
    """What the last run left, read from SQL: no models or store are opened."""
    with db.session() as s:
        n, last = s.execute(select(func.count(VectorSync.product_id), func.max(VectorSync.synced_at))).one()
        errs = [ProductError(e.product_id, e.sku, e.error) for e in s.scalars(select(IndexError_))]
    return IndexStatus(synced=int(n), last_synced_at=last, errors=errs)


PAYLOAD_COMPARED = ("price", "is_active", "in_stock", "leaf_category_id", "colour", "brand", "group_key")
_COMPARED_COLUMNS = (select(Product.id, Product.sku, Product.price, Product.is_active, Product.stock_qty,
                            Product.category_id, Product.colour, Brand.name, Product.group_key)
                     .outerjoin(Brand, Brand.id == Product.brand_id))


class Indexer:
    def __init__(self, db: Database, store: VectorStore | None, text_encoder: TextEncoder,
                 image_encoder: ImageEncoder, text_weight: float, *, max_bytes: int = 20 << 20,
                 max_pixels: int = 40_000_000):
        self.db, self.store = db, store
        self.text_encoder, self.image_encoder = text_encoder, image_encoder
        self.text_weight = float(text_weight)
        self.max_bytes, self.max_pixels = max_bytes, max_pixels

    @property
    def spec(self) -> CollectionSpec:
        return CollectionSpec(text_encoder=self.text_encoder.name, text_dim=self.text_encoder.dim,
                              image_encoder=self.image_encoder.name, image_dim=self.image_encoder.dim,
                              text_weight=self.text_weight)

    def _parents(self, s) -> dict[int, int | None]:
        return dict(s.execute(select(Category.id, Category.parent_id)).all())

    def _load(self, s, ids: Sequence[int]) -> list[Product]:
        q = (select(Product).where(Product.id.in_(list(ids)))
             .options(selectinload(Product.images), selectinload(Product.categories),
                      selectinload(Product.brand), selectinload(Product.category)))
        return list(s.scalars(q))

    def plan(self, full: bool = False, limit: int | None = None) -> Plan:
        """What a run has to do, read from SQL (and the store's ids, when this process holds the store): the
        active products whose vectors are missing or out of date (all of them with full=True), and the points
        to remove. Writes nothing."""
        spec = self.spec
        with self.db.session() as s:
            active = dict(s.execute(select(Product.id, Product.updated_at).where(Product.is_active.is_(True))).all())
            syncs = {} if full else {v.product_id: v for v in s.scalars(select(VectorSync))}
            synced = set(s.scalars(select(VectorSync.product_id)))
        stored = self.store.all_ids() if self.store is not None and self.store.spec() is not None else set()
        gone = sorted((synced | stored) - set(active))
        todo = [pid for pid, upd in sorted(active.items())
                if pid not in syncs or syncs[pid].text_encoder != spec.text_encoder
                or (syncs[pid].has_image and syncs[pid].image_encoder != spec.image_encoder)
                or syncs[pid].text_weight != spec.text_weight or (upd and upd > syncs[pid].synced_at)]
        return Plan(todo[:limit] if limit is not None else todo, gone)

    def reset(self) -> None:
        """The start of a full reindex: an empty collection for the configured encoders, no sync rows."""
        self.store.open(self.spec, recreate=True)
        with self.db.session() as s:
            s.execute(delete(VectorSync))

    def remove(self, ids: Sequence[int]) -> None:
        """Take products out of the store and forget their sync rows (deleted or deactivated products)."""
        if ids:
            self.store.delete(sorted(ids))
            with self.db.session() as s:
                s.execute(delete(VectorSync).where(VectorSync.product_id.in_(sorted(ids))))

    def run(self, full: bool = False, batch_size: int = 64, progress: Progress | None = None,
            limit: int | None = None) -> IndexReport:
        """Index what changed (or everything with full=True) in this process. `limit` caps the products handled
        in this run. The job layer (engine/jobs/) runs the same plan → encode → write steps as queued batches."""
        t0 = time.perf_counter()
        report = IndexReport(mode="full" if full else "incremental")
        if full:
            self.reset()
        else:
            self.store.open(self.spec)
        with self.db.session() as s:
            s.execute(delete(IndexError_))
        plan = self.plan(full=full, limit=limit)
        self.remove(plan.gone)
        report.removed, report.candidates = len(plan.gone), len(plan.todo)
        if progress:
            progress(0, len(plan.todo))
        for start in range(0, len(plan.todo), batch_size):
            batch = self.encode(plan.todo[start:start + batch_size])
            self.write(batch.items)
            report.add(batch)
            if progress:
                progress(min(len(plan.todo), start + batch_size), len(plan.todo))
        self.store.flush()
        if report.errors:
            with self.db.session() as s:
                s.add_all(IndexError_(product_id=e.product_id, sku=e.sku, error=e.error) for e in report.errors)
        report.seconds = time.perf_counter() - t0
        return report

    def encode(self, ids: Sequence[int]) -> Batch:
        """Vectors and payloads for these products, from SQL and the encoders alone (no store): what a worker
        process computes. A product whose content and encoders did not change gets a payload refresh only;
        one with an unusable photo is indexed on its text and reported; one with no title is reported only."""
        spec = self.spec
        out = Batch()
        with self.db.session() as s:
            parents = self._parents(s)
            products = self._load(s, ids)
            syncs = {v.product_id: v for v in s.scalars(select(VectorSync).where(VectorSync.product_id.in_(list(ids))))}
            to_encode: list[tuple[Product, str, str]] = []  # product, text, hash
            for p in products:
                h = content_hash(p)
                old = syncs.get(p.id)
                same_encoders = (old is not None and old.text_encoder == spec.text_encoder
                                 and old.text_weight == spec.text_weight
                                 and (not old.has_image or old.image_encoder == spec.image_encoder))
                if same_encoders and old.content_hash == h:
                    out.items.append(Encoded(p.id, h, None, payload_for(p, parents, bool(old.has_image)),
                                             bool(old.has_image)))
                    continue
                if not p.title or not p.title.strip():
                    out.errors.append(ProductError(p.id, p.sku, "empty title: nothing to embed"))
                    continue
                to_encode.append((p, product_text(p), h))
            if not to_encode:
                return out
            text_vecs = self.text_encoder.encode([t for _, t, _ in to_encode])
            images, img_rows = [], []
            for row, (p, _, _) in enumerate(to_encode):
                if not p.images:
                    continue
                try:
                    images.append(load_image(p.images[0].path, self.max_bytes, self.max_pixels))
                    img_rows.append(row)
                except VitrinaError as e:
                    out.errors.append(ProductError(p.id, p.sku, f"photo unusable, indexed on text only: {e}"))
            img_vecs = self.image_encoder.encode(images) if images else np.zeros((0, spec.image_dim), np.float32)
            by_row = dict(zip(img_rows, img_vecs))
            for row, (p, _, h) in enumerate(to_encode):
                t, i = text_vecs[row], by_row.get(row)
                vectors = {"text": t}
                if i is not None:
                    vectors["image"] = i
                    vectors["combined"] = combine(t, i, spec.text_weight)
                else:
                    vectors["combined"] = text_only_combined(t, spec.image_dim)
                out.items.append(Encoded(p.id, h, vectors, payload_for(p, parents, i is not None), i is not None))
        return out

    def write(self, items: Sequence[Encoded]) -> None:
        """Put encoded products in the store, then record them in vector_sync: the store first, so a crash in
        between leaves a product to redo, never one trusted but missing. Upserts by product id: writing the same
        batch twice (a retried job) duplicates nothing."""
        if not items:
            return
        spec = self.spec
        lexical = self.lexical([e.product_id for e in items if e.vectors is not None]) \
            if self.store.has_lexical() else {}
        points = [PointRecord(e.product_id, e.vectors, e.payload, lexical.get(e.product_id))
                  for e in items if e.vectors is not None]
        if points:
            self.store.upsert(points)
        for e in items:
            if e.vectors is None:
                self.store.set_payload([e.product_id], e.payload)
        with self.db.session() as s:
            known = set(s.scalars(select(Product.id).where(Product.id.in_([e.product_id for e in items]))))
            for e in items:
                if e.product_id not in known:
                    continue  # deleted since it was encoded: its point goes with the next plan
                row = s.get(VectorSync, e.product_id)
                if e.vectors is None:
                    if row is not None:
                        row.synced_at = utcnow()
                    continue
                values = dict(content_hash=e.content_hash, text_encoder=spec.text_encoder,
                              image_encoder=spec.image_encoder if e.has_image else None,
                              text_weight=spec.text_weight, has_image=e.has_image, synced_at=utcnow())
                if row is None:
                    s.add(VectorSync(product_id=e.product_id, **values))
                else:
                    for k, v in values.items():
                        setattr(row, k, v)

    def lexical(self, ids: Sequence[int]) -> dict[int, SparseVector]:
        """Lexical vectors of these products, from SQL alone (no model: the writer computes them, so the job
        layer hands over dense vectors only). Products with no word in their fields get none."""
        if not ids:
            return {}
        with self.db.session() as s:
            out = {p.id: encode_document(lexical_text(p)) for p in self._load(s, ids)}
        return {pid: v for pid, v in out.items() if v is not None}

    def mark_for_repair(self, rep: DriftReport) -> None:
        """Remove the orphans and make the next plan redo what is missing, stale or carries a wrong payload."""
        if rep.orphans:
            self.store.delete(rep.orphans)
        _mark(self.db, rep)

    def check(self, repair: bool = False, progress: Progress | None = None) -> DriftReport:
        """Compare SQL and the store; with repair, remove orphans and reindex what is missing or stale."""
        spec = self.spec
        stored_spec = self.store.spec()
        with self.db.session() as s:
            active_ids = set(s.scalars(select(Product.id).where(Product.is_active.is_(True))))
            syncs = {v.product_id: v for v in s.execute(select(  # plain rows: 100k ORM objects cost seconds
                VectorSync.product_id, VectorSync.text_encoder, VectorSync.text_weight, VectorSync.image_encoder,
                VectorSync.has_image))}
            points = self.store.all_ids() if stored_spec is not None else set()
            rep = DriftReport(active_products=len(active_ids), points=len(points))
            rep.missing = sorted(pid for pid in active_ids if pid not in points or pid not in syncs)
            rep.orphans = sorted(points - active_ids)
            rep.stale = sorted(pid for pid, v in syncs.items() if pid in active_ids and pid in points and (
                v.text_encoder != spec.text_encoder or v.text_weight != spec.text_weight
                or (v.has_image and v.image_encoder != spec.image_encoder)))
            present = sorted(active_ids & points)
            for start in range(0, len(present), 256):
                chunk = present[start:start + 256]
                hits = {h.id: h.payload for h in self.store.retrieve(chunk)}
                for pid, *columns in s.execute(_COMPARED_COLUMNS.where(Product.id.in_(chunk))):
                    want = compared_payload(*columns)
                    got = hits.get(pid, {})
                    if any(_norm(got.get(k)) != _norm(want[k]) for k in PAYLOAD_COMPARED):
                        rep.payload_mismatch.append(pid)
                if progress:
                    progress(min(len(present), start + 256), len(present))
        if repair and not rep.clean:
            self.mark_for_repair(rep)
            if stored_spec is not None and stored_spec != spec:
                raise VitrinaError("the collection was built by other encoders: run a full reindex "
                                   "(python -m engine index --full)")
            self.run(full=False, progress=progress)
            rep.repaired = True
        return rep


def _mark(db: Database, rep: DriftReport) -> None:
    with db.session() as s:
        redo = sorted(set(rep.missing) | set(rep.stale) | set(rep.orphans))
        if redo:
            s.execute(delete(VectorSync).where(VectorSync.product_id.in_(redo)))
        for pid in rep.payload_mismatch:  # force a payload refresh on the next run
            row = s.get(VectorSync, pid)
            if row is not None:
                row.synced_at = datetime(1970, 1, 1)


def _norm(v):
    if isinstance(v, float):
        return round(v, 4)
    return v
