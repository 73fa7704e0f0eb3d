"""The evaluation through the real engine on the small Magento fixture (tests/fixtures/magento-mini, with studio
photos drawn here): SQLite, the embedded Qdrant store, the USE text encoder and the photo descriptor. The CLI
is run as a user runs it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import update

from engine.catalog.importers import import_generic, import_magento
from engine.catalog.models import Product
from engine.errors import ValidationError
from engine.evaluation import TASKS, Evaluator, NoGroundTruth, attribute_queries, evaluate_queries
from engine.evaluation.attributes import FULL
from engine.evaluation.items import load
from engine.runtime import Runtime
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# (photo, colour, shape): a tee, trousers, a bag and a ball on white, as the Luma studio shots are
PHOTOS = {"m/x/mx01-red_main.jpg": ((200, 30, 30), "tee"), "m/x/mx01-red_alt1.jpg": ((190, 35, 35), "tee"),
          "m/x/mx01-red_back.jpg": ((185, 30, 40), "tee"), "m/x/mx02-black_main.jpg": ((25, 25, 25), "pants"),
          "t/b/tb01-bk-0.jpg": ((30, 30, 30), "bag"), "t/b/tb03-pink.jpg": ((230, 60, 90), "ball")}


def _draw(colour, shape: str, shift: int) -> Image.Image:
    im = Image.new("RGB", (320, 400), (255, 255, 255))
    d = ImageDraw.Draw(im)
    if shape == "tee":
        d.polygon([(60 + shift, 80), (260, 80), (300, 150), (240, 160), (240, 340), (80, 340), (80, 160),
                   (20, 150)], fill=colour)
    elif shape == "pants":
        d.polygon([(90, 40), (230, 40), (250, 370), (175, 370), (160, 150), (145, 370), (70, 370)], fill=colour)
    elif shape == "bag":
        d.rectangle([60, 140, 260, 340], fill=colour)
        d.arc([110, 60, 210, 200], 180, 360, fill=colour, width=14)
    else:
        d.ellipse([50, 90, 270, 310], fill=colour)
        d.arc([80, 120, 200, 240], 200, 280, fill=(255, 200, 210), width=10)
    return im


def _settings(data: Path) -> Settings:
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url = data, "", ""
    s.image_encoder, s.text_encoder = "descriptor", "use"
    return s


def _env(data: Path) -> dict[str, str]:
    return {**os.environ, "VITRINA_DATA_DIR": str(data), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
            "VITRINA_IMAGE_ENCODER": "descriptor", "VITRINA_TEXT_ENCODER": "use", "VITRINA_API_PORT": "0"}


def _cli(*argv: str, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *argv], cwd=ROOT, capture_output=True, text=True,
                          env=_env(data), timeout=600)


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    """The mini catalog imported and indexed once; the folder holds the data (the runtime is closed)."""
    base = tmp_path_factory.mktemp("evaluation")
    folder = base / "mini"
    shutil.copytree(FIXTURES / "magento-mini", folder)
    for i, (rel, (colour, shape)) in enumerate(PHOTOS.items()):
        path = folder / "media" / "catalog" / "product" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        _draw(colour, shape, 6 * i).save(path)
    data = base / "data"
    rt = Runtime(_settings(data))
    import_magento(rt.db, folder)
    report = rt.indexer.run()
    assert report.encoded == 5 and not report.errors
    rt.close()
    return data


@pytest.fixture()
def rt(mini):
    runtime = Runtime(_settings(mini))
    yield runtime
    runtime.close()


def test_splits_are_disjoint_by_style_and_the_same_every_run(rt):
    ev = Evaluator(rt, splits=("tune", "test"))
    cat = load(rt)
    up, leaf = ev._queries(cat, None)
    assert up == Evaluator(rt, splits=("test", "tune"))._queries(load(rt), None)[0]
    for group in (up, leaf):
        styles = {s: {cat.items[i].group for i in ids} for s, ids in group.items()}
        assert styles["tune"].isdisjoint(styles["test"])
        assert all(cat.items[i].split() == s for s, ids in group.items() for i in ids)
    assert sum(len(v) for v in up.values()) == len(cat.upsell) > 0
    by_style: dict[str, set[str]] = {}
    for it in cat.items.values():
        by_style.setdefault(it.group, set()).add(it.split())
    assert all(len(v) == 1 for v in by_style.values())  # colour variants never straddle the halves


def test_grades_follow_the_catalog_attributes(rt):
    cat = load(rt)
    pants = next(it for it in cat.items.values() if it.sku == "MX02-Black")
    assert (pants.colour, pants.leaf_name, pants.gender) == ("black", "Pants", "women")
    queries = [q for q in attribute_queries(it.attributes for it in cat.items.values())
               if q.categories == ("Pants",) and q.colour == "black" and q.gender == "women"]
    assert {q.language for q in queries} == {"en", "ru", "tr"} and any(q.source == "hand" for q in queries)
    assert all(q.grade(pants.attributes) == FULL for q in queries)
    with rt.db.session() as s:
        s.execute(update(Product).where(Product.id == pants.id).values(colour="green"))
        s.commit()
    try:
        recoloured = load(rt).items[pants.id]
        assert all(q.grade(recoloured.attributes) == 2 for q in queries)  # right category and gender, wrong colour
        assert not any(q.colour == "black" and q.categories == ("Pants",)
                       for q in attribute_queries(it.attributes for it in load(rt).items.values())
                       if q.source == "generated")
    finally:
        with rt.db.session() as s:
            s.execute(update(Product).where(Product.id == pants.id).values(colour="black"))
            s.commit()


def test_every_row_is_named_split_and_finite_on_the_real_engine(rt):
    rep = Evaluator(rt, k=[5, 10], splits=("tune", "test"), details=True).run(max_queries=12)
    assert rep.encoders["text"] == "use-multilingual-v3" and rep.encoders["image"].startswith("descriptor")
    tasks = {r.task for r in rep.rows}
    assert {"view", "wild", "attribute", "nonsense", "upsell", "leaf"} <= tasks
    for r in rep.rows:
        assert r.split in ("tune", "test") and 0.0 <= r.value <= 1.0 and r.queries > 0, r
        assert (r.language in ("en", "ru", "tr")) == (r.task == "attribute"), r
        assert bool(r.encoder) == (r.method.split("/")[0] in ("text", "image", "combined")), r
    langs = {r.language for r in rep.rows if r.task == "attribute" and r.metric == "NDCG@10"}
    assert langs == {"en", "ru", "tr"}
    assert {r.metric for r in rep.rows if r.task == "attribute"} >= {"Precision@5", "Precision@10", "NDCG@5",
                                                                      "NDCG@10", "NoMatchRate", "CappedPrecision@5",
                                                                      "CappedPrecision@10"}
    ideal = [r for r in rep.rows if r.task == "attribute" and r.method == "ideal" and r.metric.startswith("Capped")]
    assert ideal and all(r.value == 1.0 for r in ideal)  # every full match first is the best capped precision

    # "no good match" is judged on both sides: nonsense below the threshold, real attribute queries above it
    nonsense = [r.value for r in rep.rows if r.task == "nonsense" and r.method.startswith("text/")]
    real = [r.value for r in rep.rows if r.task == "attribute" and r.metric == "NoMatchRate"]
    assert nonsense and min(nonsense) >= 0.95, nonsense
    assert real and max(real) <= 0.10, real
    methods = {r.method for r in rep.rows if r.task == "attribute"}
    assert {"text/hybrid", "text/dense", "bm25", "keyword", "random", "ideal"} <= methods
    assert not {r.method for r in rep.rows if r.task == "attribute" and r.metric == "NoMatchRate"} & {
        "text/hybrid", "text/dense", "bm25"}  # retrieval alone never says "no good match"
    assert any("no-good-match threshold" in n for n in rep.notes)
    wild = [r for r in rep.rows if r.task == "wild" and r.method == "image"]
    assert {r.metric for r in wild} == {"Recall@1", "Recall@5", "HubOccupancy"}
    photographed = sum(1 for it in load(rt).items.values() if it.main_image)
    assert photographed == 4  # each photo once, in its own split:
    assert sum(r.queries for r in wild if r.metric == "Recall@1") == photographed
    # photo search's "no good match": off-catalog (own category held out) and in-catalog photos, same photos
    # and the in-catalog photos the search answered right (a subset of the in-catalog ones)
    no_match = {(r.own_style, r.split): r.queries for r in rep.rows if r.task == "wild" and r.metric == "NoMatchRate"}
    assert {own for own, _ in no_match} - {"included-right"} == {"included", "excluded"}
    assert sum(n for (own, _), n in no_match.items() if own != "included-right") == 2 * photographed
    assert all(n <= no_match[("included", split)] for (own, split), n in no_match.items() if own == "included-right")
    assert ("included", "tune") in no_match  # the tune half's photos give the calibration note
    assert any("photo no-good-match threshold" in n for n in rep.notes)
    assert {d["task"] for d in rep.details} >= {"attribute", "nonsense", "wild"}
    one = next(d for d in rep.details if d["task"] == "attribute")
    assert one["ranked"] and all(item["relevant"] == (item["sku"] in one["relevant"]) for item in one["ranked"])


def test_a_catalog_without_curated_links_is_told_so(tmp_path):
    runtime = Runtime(_settings(tmp_path / "generic"))
    try:
        import_generic(runtime.db, FIXTURES / "generic" / "products.csv")
        with pytest.raises(NoGroundTruth, match="no curated product links"):
            Evaluator(runtime).run()
        with pytest.raises(ValidationError, match="unknown task"):
            Evaluator(runtime).run(tasks=("upsell", "vibes"))
    finally:
        runtime.close()
    out = _cli("evaluate", data=tmp_path / "generic")
    assert out.returncode == 2, out.stderr
    assert "no curated product links" in out.stderr and "--queries" in out.stderr
    assert "Traceback" not in out.stderr and "nan" not in out.stdout.lower()
    as_json = _cli("evaluate", "--json", data=tmp_path / "generic")
    assert as_json.returncode == 2 and "no curated product links" in json.loads(as_json.stdout)["message"]


def test_cli_json_rows_are_named_for_comparison_across_versions(mini):
    out = _cli("evaluate", "--json", "--split", "all", "--k", "5", "10", "--max-queries", "8", data=mini)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["encoders"]["text"] == "use-multilingual-v3" and doc["encoders"]["image"].startswith("descriptor")
    rows = doc["rows"]
    assert all({"task", "metric", "method", "split", "language", "encoder", "value", "queries"} <= r.keys()
               for r in rows)
    named = {(r["task"], r["metric"], r["language"]) for r in rows if r["split"] in ("tune", "test")}
    for lang in ("en", "ru", "tr"):
        assert {("attribute", "Precision@10", lang), ("attribute", "NDCG@10", lang)} <= named
    assert {("wild", "Recall@1", None), ("wild", "Recall@5", None), ("nonsense", "NoMatchRate", None)} <= named
    assert {r["split"] for r in rows} == {"tune", "test"}
    assert {r["encoder"] for r in rows if r["method"].startswith("text/")} == {"use-multilingual-v3"}
    test_only = json.loads(_cli("evaluate", "--json", "--task", "nonsense", "--task", "attribute",
                                data=mini).stdout)["rows"]
    assert {r["split"] for r in test_only} == {"test"} and {r["task"] for r in test_only} <= {"nonsense", "attribute"}


def test_cli_judged_file_takes_several_k_prints_baselines_encoders_and_rankings(mini, tmp_path):
    queries = tmp_path / "judged.jsonl"
    queries.write_text("\n".join([
        json.dumps({"text": "red trail tee", "relevant": ["MX01-Red"]}),
        json.dumps({"text": "чёрная сумка", "relevant": ["24-TB01"], "split": "tune"}),
        json.dumps({"image": str(mini.parent / "mini/media/catalog/product/m/x/mx01-red_back.jpg"),
                    "relevant": ["MX01-Red"]}),
    ]), encoding="utf-8")
    out = _cli("evaluate", "--queries", str(queries), "--k", "1", "3", "--details", data=mini)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "use-multilingual-v3" in text and "descriptor" in text
    for word in ("Recall@1", "Recall@3", "NDCG@3", "random", "keyword", "colour-histogram", "red trail tee",
                 "MX01-Red", "✓"):
        assert word in text, word
    doc = json.loads(_cli("evaluate", "--queries", str(queries), "--k", "1", "3", "--json", "--details",
                          data=mini).stdout)
    rows = {(r["method"], r["metric"], r["split"]) for r in doc["rows"]}
    assert {("text", "Recall@1", "test"), ("text", "Recall@3", "tune"), ("image", "NDCG@3", "test"),
            ("random", "Recall@3", "test")} <= rows
    assert len(doc["details"]) == 3 and all(d["ranked"] for d in doc["details"])
    bad = _cli("evaluate", "--queries", str(queries), "--k", "0", data=mini)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_judged_file_k_beyond_the_result_limit_is_refused(rt, tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"text": "tee", "relevant": ["MX01-Red"]}), encoding="utf-8")
    with pytest.raises(ValidationError, match="k must be"):
        evaluate_queries(rt, q, k=[10, rt.settings.max_results + 1])


def test_the_cli_offers_the_engines_tasks():
    from engine.cli.evaluate import _TASKS

    assert _TASKS == TASKS
