"""The whole engine on the real Luma catalog: import → index (USE text + descriptor photos, embedded Qdrant)
→ similar / search by text / search by photo, incremental sync, drift check and repair, evaluation."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from engine.catalog.importers import import_magento
from engine.catalog.models import Brand, Product, ProductImage, VectorSync
from engine.errors import EncoderMismatch, InvalidImage, NotFound, ValidationError, VitrinaError
from engine.runtime import Runtime
from engine.settings import Settings
from engine.store.base import CollectionSpec, PointRecord
from engine.types import Filters

ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp: Path) -> Settings:
    s = Settings()
    s.data_dir = tmp
    s.database_url = ""
    s.qdrant_url = ""
    s.image_encoder = "descriptor"
    s.text_encoder = "use"
    return s


@pytest.fixture(scope="module")
def rt(tmp_path_factory, luma_dir):
    runtime = Runtime(_settings(tmp_path_factory.mktemp("pipeline")))
    import_magento(runtime.db, luma_dir)
    report = runtime.indexer.run()
    assert report.encoded == runtime.catalog.stats().active and not report.errors, report.errors[:3]
    yield runtime
    runtime.close()


def _sku(rt, sku):
    return rt.catalog.get(sku)


def test_index_covers_every_active_product_once(rt):
    stats = rt.catalog.stats()
    assert rt.store.count(Filters()) == stats.active
    assert rt.store.count(None, has_vector="image") == stats.with_images
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(VectorSync)) == stats.active
    spec = rt.store.spec()
    assert spec.text_encoder == "use-multilingual-v3" and spec.image_encoder.startswith("descriptor")
    again = rt.indexer.run()
    assert again.candidates == 0 and again.encoded == 0


def test_combined_score_is_the_weighted_mix(rt):
    p = _sku(rt, "MH01-Black")
    got = rt.store.retrieve([p.id], with_vectors=["text", "image", "combined"])[0].vectors
    other = _sku(rt, "MJ01-Red")
    o = rt.store.retrieve([other.id], with_vectors=["text", "image", "combined"])[0].vectors
    w = rt.store.spec().text_weight
    mix = w * float(got["text"] @ o["text"]) + (1 - w) * float(got["image"] @ o["image"])
    assert abs(float(got["combined"] @ o["combined"]) - mix) < 1e-5


@pytest.mark.parametrize("by", ["text", "image", "combined"])
def test_similar_never_returns_itself_and_is_typed(rt, by):
    p = _sku(rt, "MJ01-Red")
    recs = rt.recommender().similar("MJ01-Red", by=by, n=12, strategy="relevance")
    assert len(recs) == 12
    assert p.id not in [r.product.id for r in recs]
    assert all(r.vector == by for r in recs)
    sims = [r.similarity for r in recs]
    assert sims == sorted(sims, reverse=True)  # relevance = plain vector order
    assert [r.rank for r in recs] == list(range(1, 13))


def test_similar_respects_every_filter(rt):
    jackets = rt.catalog.category("Men/Tops/Jackets").id
    f = Filters(category_ids=[jackets], price_min=40, price_max=80, colours=["black", "blue"])
    recs = rt.recommender().similar("MH01-Black", n=10, filters=f)
    assert recs
    for r in recs:
        assert 40 <= r.product.price <= 80
        assert r.product.colour in ("black", "blue")
        assert jackets in r.product.category_ids
    siblings = rt.recommender().similar("MH01-Black", n=20, exclude_same_style=True)
    assert all(r.product.group_key != "MH01" for r in siblings)
    in_stock = rt.recommender().similar("MH01-Black", n=10, filters=Filters(in_stock=True))
    assert all(r.product.in_stock for r in in_stock)


def test_balanced_strategy_is_category_aware(rt):
    p = _sku(rt, "WS03-Blue")
    recs = rt.recommender().similar(p.id, n=10, strategy="balanced", exclude_same_style=True)
    same_leaf = sum(r.product.category_id == p.category_id for r in recs)
    plain = rt.recommender().similar(p.id, n=10, strategy="relevance", exclude_same_style=True)
    assert same_leaf >= sum(r.product.category_id == p.category_id for r in plain)
    assert all(r.reasons and r.factors for r in recs)


@pytest.mark.parametrize("bad, err", [
    (dict(n=0), ValidationError), (dict(n=-3), ValidationError), (dict(n=10 ** 6), ValidationError),
    (dict(n=float("nan")), ValidationError), (dict(by="sound"), ValidationError),
    (dict(filters=Filters(price_min=90, price_max=10)), ValidationError),
    (dict(filters=Filters(price_min=float("nan"))), ValidationError),
    (dict(strategy="nope"), NotFound),
])
def test_similar_bad_arguments(rt, bad, err):
    with pytest.raises(err):
        rt.recommender().similar("MH01-Black", **bad)


def test_unknown_product(rt):
    with pytest.raises(NotFound, match="NO-SUCH"):
        rt.recommender().similar("NO-SUCH-SKU")
    with pytest.raises(NotFound):
        rt.recommender().similar(10 ** 9)


def test_search_by_text_in_three_languages(rt):
    for q in ("мужская куртка", "erkek ceket", "men's jacket"):
        recs = rt.recommender().search_by_text(q, n=10)
        cats = [r.product.category_path or "" for r in recs]
        assert sum("Jackets" in c for c in cats) >= 3, (q, cats)
    with pytest.raises(ValidationError, match="empty"):
        rt.recommender().search_by_text("   ")
    with pytest.raises(ValidationError, match="characters"):
        rt.recommender().search_by_text("x" * 100_000)
    with pytest.raises(ValidationError, match="CLIP"):
        rt.recommender().search_by_text("red dress", space="image")


def test_search_by_photo_finds_the_item_from_another_view(rt):
    with rt.db.session() as s:
        rows = s.execute(select(ProductImage.path, Product.id).join(Product)
                         .where(ProductImage.role == "back").limit(15)).all()
    found = 0
    for path, pid in rows:
        recs = rt.recommender().search_by_image(Path(path), n=5, strategy="relevance")
        found += pid in [r.product.id for r in recs]
    assert found >= len(rows) * 0.4, f"{found}/{len(rows)}"


def test_bad_uploads_are_clear_errors_and_write_nothing(rt, tmp_path):
    before = rt.store.count(Filters())
    for data in (b"", b"%PDF-1.4 not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 40):
        with pytest.raises(InvalidImage):
            rt.recommender().search_by_image(data)
    with pytest.raises(InvalidImage):
        rt.recommender().search_by_image(tmp_path / "missing.jpg")
    assert rt.store.count(Filters()) == before


def test_encoder_mismatch_is_refused(rt):
    spec = rt.store.spec()
    other = CollectionSpec(spec.text_encoder, spec.text_dim, spec.image_encoder, spec.image_dim, 0.9)
    with pytest.raises(EncoderMismatch, match="reindex"):
        rt.store.open(other)
    assert rt.store.spec() == spec


def test_incremental_sync_payload_text_and_deactivation(rt):
    p = _sku(rt, "MS01-Yellow")
    with rt.db.session() as s:
        row = s.get(Product, p.id)
        row.price = 12.5
        row.updated_at = row.updated_at.replace(year=row.updated_at.year + 1)
    rep = rt.indexer.run()
    assert rep.payload_only == 1 and rep.encoded == 0
    assert rt.store.retrieve([p.id])[0].payload["price"] == 12.5
    with rt.db.session() as s:
        row = s.get(Product, p.id)
        row.title = row.title + " Pro"
        row.updated_at = row.updated_at.replace(year=row.updated_at.year + 1)
    assert rt.indexer.run().encoded == 1
    with rt.db.session() as s:
        row = s.get(Product, p.id)
        row.is_active = False
    rep = rt.indexer.run()
    assert rep.removed == 1
    assert p.id not in rt.store.all_ids()
    for by in ("text", "combined"):
        assert p.id not in [r.product.id for r in rt.recommender().similar("MS01-Black", by=by, n=30)]
    with pytest.raises(NotFound):
        rt.recommender().similar(p.id)
    with rt.db.session() as s:
        s.get(Product, p.id).is_active = True
    assert rt.indexer.run().encoded == 1


@pytest.mark.parametrize("column, value", [("price", 12345.0), ("stock_qty", 0), ("colour", "Teal"),
                                           ("group_key", "another-style"), ("brand_id", "other"),
                                           ("category_id", "other")])
def test_check_sees_each_compared_field_change_in_sql(rt, column, value):
    """The check reads plain columns (no ORM objects): an edit of any compared field in SQL alone is drift."""
    p = _sku(rt, "MT03-Blue")
    with rt.db.session() as s:
        row = s.get(Product, p.id)
        before = getattr(row, column)
        if value == "other":
            others = select(Product.brand_id if column == "brand_id" else Product.category_id).where(
                (Product.brand_id if column == "brand_id" else Product.category_id) != before)
            value = s.scalars(others.limit(1)).first()
            if column == "brand_id" and value is None:
                brand = Brand(name="Another Brand")
                s.add(brand)
                s.flush()
                value = brand.id
        setattr(row, column, value)
    try:
        assert rt.indexer.check().payload_mismatch == [p.id]
    finally:
        with rt.db.session() as s:
            setattr(s.get(Product, p.id), column, before)
    assert rt.indexer.check().clean


def test_check_reports_and_repairs_drift(rt):
    assert rt.indexer.check().clean
    a, b = _sku(rt, "MT01-Red"), _sku(rt, "MT02-Red")
    rt.store.delete([a.id])  # missing point
    rt.store.set_payload([b.id], {"price": 999.0})  # payload drift
    orphan = max(rt.store.all_ids()) + 10_000
    vec = rt.store.retrieve([b.id], with_vectors=["text", "image", "combined"])[0].vectors
    rt.store.upsert([PointRecord(orphan, vec, {"sku": "ghost", "is_active": 1, "price": 1.0})])
    rep = rt.indexer.check()
    assert rep.missing == [a.id] and rep.orphans == [orphan] and rep.payload_mismatch == [b.id]
    fixed = rt.indexer.check(repair=True)
    assert fixed.repaired
    after = rt.indexer.check()
    assert after.clean, after
    assert rt.store.retrieve([b.id])[0].payload["price"] == b.price


def test_index_reports_per_product_errors_and_indexes_text_only(rt):
    p = _sku(rt, "MP01-Black")
    with rt.db.session() as s:
        img = s.scalars(select(ProductImage).where(ProductImage.product_id == p.id)
                        .order_by(ProductImage.position)).first()
        original = img.path
        img.path = str(Path(original).with_name("gone.jpg"))
        s.get(Product, p.id).updated_at = s.get(Product, p.id).updated_at.replace(year=2100)
    rep = rt.indexer.run()
    assert [e.sku for e in rep.errors] == ["MP01-Black"] and "photo" in rep.errors[0].error
    assert rep.text_only == 1
    hit = rt.store.retrieve([p.id], with_vectors=["image", "combined"])[0]
    assert "image" not in hit.vectors and hit.payload["has_image"] == 0
    assert abs(np.linalg.norm(hit.vectors["combined"]) - 1) < 1e-5
    with pytest.raises(NotFound, match="photo"):
        rt.recommender().similar(p.id, by="image")
    with rt.db.session() as s:
        s.get(ProductImage, img.id).path = original
        s.get(Product, p.id).updated_at = s.get(Product, p.id).updated_at.replace(year=2101)
    rep = rt.indexer.run()
    assert rep.encoded == 1 and not rep.errors


def test_evaluation_prints_every_number_with_baselines(rt):
    from engine.evaluation import Evaluator

    rep = Evaluator(rt, k=10).run(max_queries=40)
    methods = {r.method for r in rep.rows}
    assert {"random", "random-in-leaf", "metadata", "text/relevance", "combined/balanced"} <= methods
    for r in rep.rows:
        assert 0.0 <= r.value <= 1.0 and r.queries > 0, r
    assert rep.value("view", "Recall@5", "image") > 10 * rep.value("view", "Recall@5", "random")
    assert rep.value("leaf", "Precision@10", "combined/balanced") > rep.value("leaf", "Precision@10", "random")
    assert "upsell" in rep.table() and "look" in rep.table()
    assert rep.value("look", "linked share", "combined/look") > 0
    for own in ("included", "excluded"):  # the default strategy must beat plain vector order and the leaf baseline
        balanced = rep.value("upsell", "NDCG@10", "combined/balanced", own)
        assert balanced > rep.value("upsell", "NDCG@10", "combined/relevance", own)
        assert balanced > rep.value("upsell", "NDCG@10", "random-in-leaf", own)


def test_cli_index_resumes_after_a_kill(tmp_path, luma_dir):
    env = dict(os.environ, VITRINA_DATA_DIR=str(tmp_path), VITRINA_IMAGE_ENCODER="descriptor",
               VITRINA_CATALOG_DIR=str(luma_dir), DATABASE_URL="", QDRANT_URL="")
    cmd = [sys.executable, "-m", "engine"]
    out = subprocess.run(cmd + ["import-magento", "--json", "--no-index"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["created"] == 461
    proc = subprocess.Popen(cmd + ["index", "--batch-size", "16"], env=env, cwd=ROOT,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline, buf = time.time() + 240, ""
    while time.time() < deadline:  # wait until some batches are in, then kill without warning
        ch = proc.stderr.read(1)
        buf += ch
        if not ch or "| 64/" in buf or "| 80/" in buf:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rt = Runtime(_settings(tmp_path))
    try:
        with rt.db.session() as s:
            synced = s.scalar(select(func.count()).select_from(VectorSync))
        assert 0 < synced < 461
        rep = rt.indexer.run()
        assert rep.encoded == 461 - synced
        assert rt.store.count(Filters()) == 461 and len(rt.store.all_ids()) == 461
        assert rt.indexer.check().clean
    finally:
        rt.close()
    res = subprocess.run(cmd + ["similar", "MH01-Black", "-n", "3", "--json"], env=env, capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert len(rows) == 3 and all(r["sku"] != "MH01-Black" for r in rows)
    bad = subprocess.run(cmd + ["similar", "NOPE", "--json"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and json.loads(bad.stdout)["error"] == "NotFound"
    inv = subprocess.run(cmd + ["similar", "MH01-Black", "--price-min", "50", "--price-max", "5"], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    assert inv.returncode == 2 and "inverted" in inv.stderr and "Traceback" not in inv.stderr


def _commands() -> list[str]:
    from engine.cli.main import COMMANDS, build_parser

    build_parser()  # registers the commands of every CLI module
    return sorted(COMMANDS)


@pytest.mark.parametrize("command", _commands())
def test_every_cli_command_has_help(command):
    out = subprocess.run([sys.executable, "-m", "engine", command, "--help"], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0 and "--json" in out.stdout


def test_complete_the_look_uses_the_complementary_map(rt):
    from engine.recommend.looks import targets_for

    src = rt.catalog.card(_sku(rt, "MH01-Black"))
    look = rt.recommender().complete_the_look("MH01-Black")
    targets = {t.category: t.relation for t in targets_for(src, rt.config.complementary)}
    assert look and {r.relation for r in look} <= set(targets.values())
    for r in look:
        assert r.product.group_key != src.group_key
        paths = [rt.catalog.category(c).path for c in r.product.category_ids]
        assert any(p.startswith(t) for t in targets for p in paths)
    with pytest.raises(ValidationError):
        rt.recommender().complete_the_look("MH01-Black", n_per_relation=0)


def test_trending_follows_the_event_log(rt):
    from engine.insights.popularity import trending
    from engine.insights.events import Event, EventLog

    a, b = _sku(rt, "WJ01-Red"), _sku(rt, "WB01-Black")
    log = EventLog(rt.db)
    log.log_many([Event(kind="purchase", session_id="s1", product_id=a.id),
                  Event(kind="click", session_id="s1", product_id=b.id)])
    rt.recommender().invalidate()
    got = rt.recommender().trending(5)
    expected = [s.product_id for s in trending(rt.db, 5, half_life_hours=rt.config.events.half_life_hours)]
    assert [r.product.id for r in got] == expected[:len(got)] and got[0].product.id == a.id
    assert rt.recommender().trending(5, filters=Filters(price_max=a.price - 0.01))[0].product.id != a.id
    with pytest.raises(NotFound):
        rt.recommender().trending(5, category="No/Such/Category")
    bag = _sku(rt, "24-MB01")  # in Gear/Bags: a parent category covers its subtree
    log.log_many([Event(kind="cart_add", session_id="s2", product_id=bag.id)])
    rt.recommender().invalidate()
    gear = rt.recommender().trending(5, category="Gear")
    assert [r.product.id for r in gear] == [bag.id]


def test_from_config_reproduces_the_rankings_of_an_exported_config(rt, tmp_path):
    from engine.recommend.config import save
    from engine.recommend.rerank import Strategy
    from engine.recommend.rules import Rule

    cfg = rt.config
    custom = type(cfg).load(save(cfg, tmp_path / "base.yaml"))
    custom.strategies["cheap-first"] = Strategy("cheap-first", {"similarity": 0.5, "price": 0.5})
    custom.default_strategy = "cheap-first"
    custom.rules.append(Rule("hide-1", "hide", _sku(rt, "MH02-Black").id))
    path = save(custom, tmp_path / "exported.yaml")
    preview = rt.recommender(custom)
    service = Runtime.from_config(path, rt.settings).recommender()
    for sku in ("MH01-Black", "WS03-Blue", "24-MB01"):
        a = [(r.product.id, round(r.score, 6)) for r in preview.similar(sku, n=10)]
        b = [(r.product.id, round(r.score, 6)) for r in service.similar(sku, n=10)]
        assert a == b
        assert _sku(rt, "MH02-Black").id not in [i for i, _ in b]
    assert [r.product.id for r in service.similar("MH01-Black", n=10)] != \
        [r.product.id for r in rt.recommender().similar("MH01-Black", n=10)]


def test_judged_query_file_is_scored(rt, tmp_path, luma_dir):
    from engine.evaluation import evaluate_queries

    photo = luma_dir / "media/catalog/product/m/h/mh01-gray_back.jpg"
    q = tmp_path / "queries.jsonl"
    q.write_text("\n".join([
        json.dumps({"text": "Chaz Kangeroo Hoodie", "relevant": ["MH01-Black", "MH01-Gray", "MH01-Orange"]}),
        json.dumps({"image": str(photo), "relevant": ["MH01-Gray"]}),
        "",
    ]), encoding="utf-8")
    rep = evaluate_queries(rt, q, k=10, strategy="relevance")
    # the default config collapses colour variants to one per style: the style is found, one variant shown
    assert rep.value("judged", "Recall@10", "text") == pytest.approx(1 / 3)
    assert rep.value("judged", "Recall@10", "image") == 1.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hoodie", "relevant": ["MH01-Black"]}\n{"text": "x", "relevant": ["NOPE"]}\n')
    with pytest.raises(ValidationError, match="line 2.*NOPE"):
        evaluate_queries(rt, bad)
    with pytest.raises(NotFound):
        evaluate_queries(rt, tmp_path / "absent.jsonl")


def test_demo_catalog_is_fetched_when_absent(tmp_path, luma_dir):
    """The public archive's layout (app/code/Magento/<Module>/fixtures, pub/media/catalog/product), served on
    loopback, is unpacked into the importer's layout."""
    import http.server
    import tarfile
    import threading

    from engine.demo import fetch_luma

    archive = tmp_path / "sample.tar.gz"
    top = "magento2-sample-data-abc"
    with tarfile.open(archive, "w:gz") as tar:
        for module in ("ConfigurableSampleData", "CatalogSampleData"):
            for f in (luma_dir / "fixtures" / module).rglob("*.csv"):
                rel = f.relative_to(luma_dir / "fixtures" / module)
                tar.add(f, arcname=f"{top}/app/code/Magento/{module}/fixtures/{rel}")
        for f in sorted((luma_dir / "media/catalog/product/m/h").glob("mh01-*")):
            tar.add(f, arcname=f"{top}/pub/media/catalog/product/m/h/{f.name}")
        tar.add(luma_dir / "README.md", arcname=f"{top}/README.md")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dest = fetch_luma(tmp_path / "luma", url=f"http://127.0.0.1:{server.server_port}/sample.tar.gz")
        assert (dest / "fixtures/ConfigurableSampleData/products.csv").exists()
        assert (dest / "media/catalog/product/m/h/mh01-black_main.jpg").exists()
        assert not (dest / "README.md").exists()
        with pytest.raises(VitrinaError, match="could not be fetched"):
            fetch_luma(tmp_path / "other", url=f"http://127.0.0.1:{server.server_port}/missing.tar.gz")
        assert not (tmp_path / "other").exists()
    finally:
        server.shutdown()


def test_index_status_reads_the_last_run_from_sql(rt):
    from engine.indexing.indexer import index_status

    st = index_status(rt.db)
    assert st.synced == rt.catalog.stats().active and st.last_synced_at is not None
    assert st.errors == []


@pytest.mark.parametrize("query", ["\x00\x00", " \u200e\u200f\u202a\u2066 ", "\u2069\t\n"])
def test_a_search_of_only_nul_whitespace_or_bidi_marks_is_empty(rt, query):
    with pytest.raises(ValidationError, match="the search text is empty"):
        rt.recommender().search_by_text(query)


def test_a_search_text_with_a_lone_surrogate_or_nul_is_refused(rt):
    with pytest.raises(ValidationError, match="lone surrogate"):
        rt.recommender().search_by_text("red \ud800 dress")
    with pytest.raises(ValidationError, match="NUL"):
        rt.recommender().search_by_text("red\x00dress")
