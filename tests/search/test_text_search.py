"""Text search end to end on a small real catalog (SQLite, USE text vectors, embedded qdrant-edge with lexical
vectors): exact matches first, the query's attributes held, chips taken off, prices read, "no good match",
and a collection built before lexical search answered from the dense vectors with a note."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import qdrant_edge as qe

from engine.catalog.importers.generic import import_generic
from engine.errors import ValidationError
from engine.recommend.config import RecoConfig
from engine.runtime import Runtime
from engine.search.config import SearchConfig
from engine.search.text import MODES
from engine.settings import Settings
from engine.types import Filters

W_JACKETS, M_JACKETS = "Women > Tops > Jackets", "Men > Tops > Jackets"
W_TEES, M_SHORTS, BAGS = "Women > Tops > Tees", "Men > Bottoms > Shorts", "Gear > Bags"
PRODUCTS = [  # sku, title, price, colour, category, style
    ("WJ01-BLK", "Nadia elements shell jacket", 69, "Black", W_JACKETS, "WJ01"),
    ("WJ01-BLU", "Nadia elements shell jacket", 69, "Blue", W_JACKETS, "WJ01"),
    ("WJ02-BLK", "Josie yoga jacket", 56, "Black", W_JACKETS, "WJ02"),
    ("WJ02-RED", "Josie yoga jacket", 56, "Red", W_JACKETS, "WJ02"),
    ("WJ03-GRN", "Jade running windbreaker", 45, "Green", W_JACKETS, "WJ03"),
    ("WJ04-BLK", "Olivia zip light jacket", 120, "Black", W_JACKETS, "WJ04"),
    ("MJ01-BLK", "Hyperion softshell jacket", 80, "Black", M_JACKETS, "MJ01"),
    ("MJ02-GRY", "Lando gym jacket", 75, "Gray", M_JACKETS, "MJ02"),
    ("WT01-BLK", "Desiree fitness tee", 24, "Black", W_TEES, "WT01"),
    ("WT02-WHT", "Layla cotton tee", 29, "White", W_TEES, "WT02"),
    ("MS01-BLK", "Apollo running short", 32, "Black", M_SHORTS, "MS01"),
    ("MS02-BLU", "Orestes fitness short", 35, "Blue", M_SHORTS, "MS02"),
    ("GB01-BLK", "Wayfarer messenger bag", 45, "Black", BAGS, "GB01"),
    ("GB02-GRY", "Rival field backpack", 32, "Gray", BAGS, "GB02"),
]
BLACK_WOMENS_JACKETS = {"WJ01-BLK", "WJ02-BLK", "WJ04-BLK"}


def _csv() -> bytes:
    lines = ["sku,title,price,colour,category,group,stock"]
    lines += [f"{s},{t},{p},{c},{cat},{g},10" for s, t, p, c, cat, g in PRODUCTS]
    return ("\n".join(lines) + "\n").encode()


def _runtime(data: Path) -> Runtime:
    settings = Settings()
    settings.data_dir = data
    settings.database_url = settings.qdrant_url = settings.redis_url = ""
    settings.text_encoder, settings.image_encoder = "use", "descriptor"
    return Runtime(settings)


@pytest.fixture(scope="module")
def rt(tmp_path_factory):
    rt = _runtime(Path(tmp_path_factory.mktemp("text-search")))
    report = import_generic(rt.db, _csv(), "shop.csv")
    assert not report.rejected, report.rejected
    indexed = rt.indexer.run()
    assert indexed.encoded == len(PRODUCTS) and not indexed.errors
    yield rt
    rt.close()


def _config(**search) -> RecoConfig:
    return replace(RecoConfig.default(), search=replace(SearchConfig(), **search)).validate()


def skus(result) -> list[str]:
    return [r.product.sku for r in result.items]


def test_an_exact_sku_and_an_exact_name_come_first(rt):
    res = rt.recommender().text_search("wj02-red", n=5)
    assert skus(res)[0] == "WJ02-RED" and res.exact == [rt.catalog.get("WJ02-RED").id]
    assert res.items[0].reasons == ["exact match"] and res.confidence == 1.0
    res = rt.recommender().text_search("Lando gym jacket", n=5)
    assert skus(res)[0] == "MJ02-GRY"
    # an exact name names a style: the config's collapse (one variant a style) still holds...
    res = rt.recommender().text_search("nadia elements shell jacket", n=5)
    assert skus(res)[0] in ("WJ01-BLK", "WJ01-BLU") and not {"WJ01-BLK", "WJ01-BLU"} <= set(skus(res))
    # ...but the variant whose sku the query is always shows
    assert skus(rt.recommender().text_search("WJ01-BLU", n=5))[0] == "WJ01-BLU"


@pytest.mark.parametrize("query", ["black women's jacket", "чёрная женская куртка", "siyah kadın ceket",
                                   "женские куртки угольного цвета", "kadınlar için kapkara mont"])
def test_the_querys_colour_gender_and_category_are_held(rt, query):
    res = rt.recommender().text_search(query, n=8)
    assert {a.kind: a.value for a in res.attributes} == {"colour": "black", "gender": "women",
                                                         "category": "Jackets"}
    assert set(skus(res)[:3]) == BLACK_WOMENS_JACKETS, skus(res)
    assert not res.loose and res.mode == "hybrid"
    assert all(r.reasons == ["matches colour: black, gender: women, category: Jackets"] for r in res.items[:3])


@pytest.mark.parametrize("strategy", ["balanced", "trending", "upsell"])
def test_business_strategies_never_drown_the_attributes(rt, strategy):
    res = rt.recommender().text_search("black women's jacket", n=8, strategy=strategy)
    assert set(skus(res)[:3]) == BLACK_WOMENS_JACKETS, skus(res)


def test_taking_a_chip_off_searches_without_it(rt):
    rec = rt.recommender()
    res = rec.text_search("black women's jacket", n=8, ignore=["colour"])
    assert res.ignored == ["colour"] and {a.kind for a in res.attributes} == {"gender", "category"}
    women = {s for s, *_, cat, _ in PRODUCTS if cat == W_JACKETS}
    assert set(skus(res)[:4]) <= women  # every women's jacket, whatever its colour, before anything else
    assert len({s for s in skus(res)} & women) >= 4  # styles collapse to one variant each
    # the removed colour's words leave what the lists search for too, or "black" would keep pulling black in
    assert res.searched == "women jacket" and rec.text_search("black women's jacket", n=8).searched == \
        "black women jacket"
    off = rec.text_search("siyah kadın ceket", n=8, ignore=["colour", "gender"])
    assert off.searched == "jacket" and {a.kind for a in off.attributes} == {"category"}


def test_a_price_in_the_query_is_a_limit(rt):
    res = rt.recommender().text_search("black jacket under 70", n=10)
    assert res.attributes[0].kind == "price" and res.attributes[0].price_max == 70
    assert res.items and all(r.product.price <= 70 for r in res.items)
    res = rt.recommender().text_search("siyah ceket 100 TL üstü", n=10, filters=Filters(price_max=200))
    assert skus(res) == ["WJ04-BLK"]  # above 100 within the caller's 200: only the Olivia
    res = rt.recommender().text_search("jacket under 50", n=10, filters=Filters(price_min=60))
    assert res.items == [] and "outside the price filter" in res.notes[0]


def test_nonsense_is_loosely_related_or_hidden(rt):
    res = rt.recommender().text_search("zzqx vbnm", n=5)
    assert res.loose and res.items and res.confidence < res.threshold
    hidden = rt.recommender(_config(loose="hide")).text_search("zzqx vbnm", n=5)
    assert hidden.loose and hidden.items == [] and hidden.hidden == 5
    assert rt.recommender().search_by_text("zzqx vbnm", n=5)  # labelled, still shown by default


def test_modes_and_bad_arguments(rt):
    rec = rt.recommender()
    runs = {mode: rec.text_search("running short", n=3, mode=mode, understand=False) for mode in MODES}
    assert all(res.mode == mode and res.attributes == [] for mode, res in runs.items())
    assert set(skus(runs["dense"])[:2]) == {"MS01-BLK", "MS02-BLU"}  # the dense list alone: both shorts
    assert skus(runs["lexical"])[0] == skus(runs["hybrid"])[0] == "MS01-BLK"  # "running" decides lexically
    with pytest.raises(ValidationError, match="mode"):
        rec.text_search("jacket", mode="sparse")
    with pytest.raises(ValidationError, match="ignore"):
        rec.text_search("jacket", ignore="colour")
    with pytest.raises(ValidationError, match="empty"):
        rec.text_search("  ")


@pytest.mark.parametrize("fusion, lexical", [("dbsf", 2.0), ("rrf", 1.0)])
def test_either_fusion_from_the_config(rt, fusion, lexical):
    res = rt.recommender(_config(fusion=fusion, lexical_weight=lexical)).text_search("black women's jacket", n=5)
    assert set(skus(res)[:3]) == BLACK_WOMENS_JACKETS


def test_a_collection_from_before_lexical_search_falls_back_to_dense(tmp_path):
    """A data folder whose shard has no lexical vector: search answers from the dense vectors and says why;
    `check` says a full reindex is needed; `index --full` brings lexical search."""
    data = tmp_path / "data"
    rt = _runtime(data)
    spec = rt.indexer.spec
    shard = data / "qdrant" / "shard"
    shard.parent.mkdir(parents=True)
    qe.EdgeShard.create(str(shard), qe.EdgeConfig(vectors={
        n: qe.EdgeVectorParams(size=s, distance=qe.Distance.Cosine) for n, s in spec.sizes().items()})).close()
    (data / "qdrant" / "spec.json").write_text(json.dumps({
        "text_encoder": spec.text_encoder, "text_dim": spec.text_dim, "image_encoder": spec.image_encoder,
        "image_dim": spec.image_dim, "text_weight": spec.text_weight}))
    import_generic(rt.db, _csv(), "shop.csv")
    assert rt.indexer.run().encoded == len(PRODUCTS)
    assert not rt.store.has_lexical()
    res = rt.recommender().text_search("black women's jacket", n=5)
    assert res.mode == "dense" and "index --full" in res.notes[0]
    assert set(skus(res)[:3]) == BLACK_WOMENS_JACKETS  # the attributes still hold
    rt.indexer.run(full=True)
    assert rt.store.has_lexical()
    assert rt.recommender().text_search("black women's jacket", n=5).mode == "hybrid"
    rt.close()
