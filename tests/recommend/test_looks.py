"""Complete the look: the default map, editable rows and their validation, target lookup and selection."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.recommend.looks import (DEFAULT_COMPLEMENTARY, LOOK_STRATEGY, ComplementaryTarget, complete_the_look, mapping_to_rows, relation_label, rows_to_mapping, targets_for, validate_rows)
from engine.recommend.rerank import Strategy
from engine.recommend.rules import Rule
from engine.types import ProductCard, Recommendation

# The Luma category tree, written out from its categories.csv files.
LUMA_PATHS = [
    "Men", "Men/Tops", "Men/Bottoms", "Men/Tops/Jackets", "Men/Tops/Hoodies & Sweatshirts", "Men/Tops/Tees",
    "Men/Tops/Tanks", "Men/Bottoms/Pants", "Men/Bottoms/Shorts", "Women", "Women/Tops", "Women/Bottoms",
    "Women/Tops/Jackets", "Women/Tops/Hoodies & Sweatshirts", "Women/Tops/Tees", "Women/Tops/Bras & Tanks",
    "Women/Bottoms/Pants", "Women/Bottoms/Shorts", "Gear", "Gear/Bags", "Gear/Fitness Equipment", "Gear/Watches",
    "Promotions", "Promotions/Pants", "Promotions/Tees", "Collections", "Collections/Eco Friendly",
]


def card(pid: int, price: float = 30.0, path: str | None = None, cats: list[int] | None = None, **kw) -> ProductCard:
    return ProductCard(id=pid, sku=f"S{pid}", title=f"P{pid}", price=price, category_path=path,
                       category_ids=list(cats or []), stock_qty=kw.pop("stock_qty", 20), **kw)


def rec(c: ProductCard, sim: float) -> Recommendation:
    return Recommendation(product=c, score=sim, vector="combined", similarity=sim)


def ids(recs):
    return [r.product.id for r in recs]


# ---------------------------------------------------------------- the map

def test_default_map_uses_only_luma_categories_and_known_relations():
    mapping, errors = validate_rows(mapping_to_rows(DEFAULT_COMPLEMENTARY), LUMA_PATHS)
    assert errors == []
    assert mapping == DEFAULT_COMPLEMENTARY
    relations = {t.relation for targets in DEFAULT_COMPLEMENTARY.values() for t in targets}
    assert relations == {"bottom", "top", "layer", "bag", "accessories", "equipment"}
    assert [t.category for t in DEFAULT_COMPLEMENTARY["Men/Tops"]][:1] == ["Men/Bottoms"]  # tops ↔ bottoms
    assert [t.category for t in DEFAULT_COMPLEMENTARY["Women/Bottoms"]][:1] == ["Women/Tops"]


def test_default_map_matches_the_dataset_category_files(luma_dir: Path):
    paths = []
    for f in sorted((luma_dir / "fixtures").glob("*/categories.csv")):
        for row in csv.DictReader(f.open(encoding="utf-8")):
            paths.append(f"{row['path']}/{row['name']}" if row["path"] else row["name"])
    assert "Gear/Fitness Equipment" in paths
    assert validate_rows(mapping_to_rows(DEFAULT_COMPLEMENTARY), paths)[1] == []


def test_rows_round_trip():
    rows = mapping_to_rows(DEFAULT_COMPLEMENTARY)
    assert rows[0] == {"category": "Men/Tops", "complementary": "Men/Bottoms", "relation": "bottom", "max_items": 2}
    assert rows_to_mapping(rows, LUMA_PATHS) == DEFAULT_COMPLEMENTARY
    assert mapping_to_rows(rows_to_mapping(rows)) == rows


def test_row_validation_lists_every_problem():
    nan = float("nan")  # what st.data_editor gives for an empty numeric cell
    rows = [
        {"category": "men / tops", "complementary": "Gear/Bags", "relation": "bag", "max_items": 1.0},
        {"category": "Men/Tops", "complementary": "Gear/Shoes", "relation": "shoes", "max_items": 1},
        {"category": "Men/Tops", "complementary": "gear/bags", "relation": "bag2", "max_items": 1},
        {"category": "Men/Tops", "complementary": "Men/Tops", "relation": "same", "max_items": 1},
        {"category": "Men/Bottoms", "complementary": "Men/Tops", "relation": nan, "max_items": 0},
        {"category": None, "complementary": None, "relation": None, "max_items": nan},  # a fresh blank line
        {"category": "Kids", "complementary": "Gear/Bags", "relation": "bag", "max_items": 2.5},
        {"category": "Gear/Bags", "complementary": "Gear/Watches", "relation": "watch"},  # max_items defaults to 1
    ]
    mapping, errors = validate_rows(rows, LUMA_PATHS)
    assert errors == [
        "row 2: unknown complementary category 'Gear/Shoes'",
        "row 3: 'Men/Tops' → 'Gear/Bags' is listed twice",
        "row 4: 'Men/Tops' cannot complement itself",
        "row 5: relation is empty",
        "row 5: max_items must be an integer from 1 to 20, got 0",
        "row 7: unknown category 'Kids'",
        "row 7: max_items must be an integer from 1 to 20, got 2.5",
    ]
    # the valid rows, in the catalog's spelling
    assert mapping == {"Men/Tops": [ComplementaryTarget("Gear/Bags", "bag", 1)],
                       "Gear/Bags": [ComplementaryTarget("Gear/Watches", "watch", 1)]}
    with pytest.raises(ConfigError) as e:
        rows_to_mapping(rows, LUMA_PATHS)
    assert len(e.value.errors) == 7


def test_ids_are_accepted_only_when_known():
    rows = [{"category": "12", "complementary": "Gear/Bags", "relation": "bag", "max_items": 1}]
    assert validate_rows(rows, LUMA_PATHS)[1] == ["row 1: unknown category '12'"]
    assert validate_rows(rows, LUMA_PATHS, known_ids=[12])[1] == []


def test_relation_labels():
    assert relation_label("bottom", "ru") == "низ"
    assert relation_label("bag", "tr") == "çanta"
    assert relation_label("socks", "ru") == "socks"


# ---------------------------------------------------------------- targets

def test_deepest_mapped_category_wins():
    jacket = card(1, path="Men / Tops / Jackets")
    tee = card(2, path="Men/Tops/Tees")
    assert targets_for(jacket, DEFAULT_COMPLEMENTARY) == DEFAULT_COMPLEMENTARY["Men/Tops/Jackets"]
    assert targets_for(tee, DEFAULT_COMPLEMENTARY) == DEFAULT_COMPLEMENTARY["Men/Tops"]
    assert targets_for(card(3, path="gear/bags"), DEFAULT_COMPLEMENTARY) == DEFAULT_COMPLEMENTARY["Gear/Bags"]
    assert targets_for(card(4, path="Promotions/Pants"), DEFAULT_COMPLEMENTARY) == []
    assert targets_for(card(5), DEFAULT_COMPLEMENTARY) == []
    # "Men/Topsy" is not under "Men/Tops": matching is by whole path segments
    assert targets_for(card(6, path="Men/Topsy"), DEFAULT_COMPLEMENTARY) == []


def test_id_keys_match_by_category_chain_depth():
    bag, watch = [ComplementaryTarget("Gear/Bags", "bag")], [ComplementaryTarget("Gear/Watches", "accessories")]
    tee = card(1, path="Men/Tops/Tees", cats=[12, 10, 1])
    # "Men/Tops" has depth 2; id 12 is the leaf of a 3-deep chain, so it is deeper.
    assert targets_for(tee, {"Men/Tops": bag, "12": watch}) == watch
    assert targets_for(tee, {"Men/Tops": bag, "1": watch}) == bag  # id 1 is the root: depth 1


# ---------------------------------------------------------------- selection

def look_catalog():
    """A 30.00 tee (style MS01). Bottoms candidates (similarity to the tee; all 20 in stock unless said):
    10 shorts MSH01 black, 30.00, sim .50;      11 the same shorts in blue, 30.00, sim .55;
    12 pants MP01, 60.00, sim .60, 15 views;    13 a bottom of the tee's own style MS01 (excluded);
    14 pants MP02, 28.00, sim .30, out of stock.
    Bags: 20 at 30.00, sim .20; 21 at 120.00, sim .30, 3 views."""
    src = card(1, price=30, path="Men/Tops/Tees", group_key="MS01")
    bottoms = [rec(card(10, 30, group_key="MSH01", colour="black"), .50),
               rec(card(11, 30, group_key="MSH01", colour="blue"), .55),
               rec(card(12, 60, group_key="MP01", views=15), .60),
               rec(card(13, 33, group_key="MS01"), .90),
               rec(card(14, 28, group_key="MP02", in_stock=False), .30)]
    bags = [rec(card(20, 30), .20), rec(card(21, 120, views=3), .30)]
    rows = [{"category": "Men/Tops", "complementary": "Men/Bottoms", "relation": "bottom", "max_items": 2},
            {"category": "Men/Tops", "complementary": "Gear/Bags", "relation": "bag", "max_items": 1}]
    return src, rows, {"Men/Bottoms": bottoms, "Gear/Bags": bags}


def test_complete_the_look_picks_best_per_relation():
    src, rows, cands = look_catalog()
    out = complete_the_look(src, rows, cands)
    # look = .35 price + .3 similarity + .25 popularity + .1 stock; popularity is relative to each list.
    # 12: .35·.5 + .3·.6 + .25·1 + .1 = .705;  11: .35 + .3·.55 + .1 = .615;  10: .35 + .15 + .1 = .60 (same
    # style as 11: collapsed);  14: .35·28/30 + .09 + 0 + 0 = .4167;  13 shares the tee's style: never shown.
    # Bags: 21: .35·.25 + .09 + .25 + .1 = .5275 beats 20: .35 + .06 + 0 + .1 = .51.
    assert ids(out) == [12, 11, 21]
    assert [r.relation for r in out] == ["bottom", "bottom", "bag"]
    assert [r.rank for r in out] == [1, 2, 3]
    assert [r.score for r in out] == pytest.approx([.705, .615, .5275])


def test_n_per_relation_caps_each_relation():
    src, rows, cands = look_catalog()
    assert ids(complete_the_look(src, rows, cands, n_per_relation=1)) == [12, 21]
    # max_items still caps when n_per_relation is larger
    assert ids(complete_the_look(src, rows, cands, n_per_relation=5)) == [12, 11, 21]


def test_look_accepts_the_config_mapping_and_a_custom_strategy():
    src, rows, cands = look_catalog()
    mapping = rows_to_mapping(rows)
    cheapest_close = Strategy("price-only", {"price": 1.0})
    # price only: 10 and 11 both at 30.00 score 1 (tie → higher similarity: 11, then 10 is collapsed);
    # 14 at 28.00 scores 28/30; 12 at 60 scores .5.
    assert ids(complete_the_look(src, mapping, cands, strategy=cheapest_close)) == [11, 14, 20]


def test_look_never_repeats_an_item_across_relations_and_respects_hides():
    src = card(1, price=40, path="Men/Bottoms/Pants", group_key="MP09")
    jacket = rec(card(30, 45, group_key="MJ01"), .6)
    tee = rec(card(31, 25, group_key="MS02"), .5)
    cands = {"Men/Tops": [jacket, tee], "Men/Tops/Jackets": [jacket]}
    mapping = {"Men/Bottoms": [ComplementaryTarget("Men/Tops", "top", 2),
                               ComplementaryTarget("Men/Tops/Jackets", "layer", 1)]}
    out = complete_the_look(src, mapping, cands)
    assert ids(out) == [30, 31]  # the jacket is used as a top; nothing is left for "layer"
    assert [r.relation for r in out] == ["top", "top"]
    hidden = complete_the_look(src, mapping, cands, rules=[Rule("h", "hide", 30), Rule("p", "pin", 31, slot=1)])
    assert ids(hidden) == [31]


def test_look_for_unmapped_source_is_empty():
    src, rows, cands = look_catalog()
    src.category_path = "Promotions/Tees"
    assert complete_the_look(src, rows, cands) == []


def test_look_reasons_follow_language():
    src, rows, cands = look_catalog()
    out = complete_the_look(src, rows, cands, n_per_relation=1, lang="ru")
    # 12: popularity 1 → "популярно сейчас" (.25), stock → "в наличии" (.1); its price (.5) is not close and
    # its similarity (.6) is not "very similar"
    assert out[0].reasons == ["популярно сейчас", "в наличии"]
    assert LOOK_STRATEGY.validate() is LOOK_STRATEGY
