"""The tokenizer, the lexical vectors, the fusion and the query parser, on hand-written inputs whose right
answers a person can check by reading them."""
from __future__ import annotations

import math

import pytest

from engine.search.fusion import dbsf, fuse, rrf
from engine.search.parse import CategoryInfo, QueryParser, parse_price
from engine.search.sparse import ProductText, encode_document, encode_query, term_id
from engine.search.tokens import fold, stem, terms, words

# ---- tokens ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("SİYAH Kadın", ["siyah", "kadin"]),  # Turkish dotted capital İ and dotless ı
    ("SIYAH kadın", ["siyah", "kadin"]),
    ("Чёрная КУРТКА", ["черная", "куртка"]),  # ё folds to е, case goes
    ("Café crème", ["cafe", "creme"]),  # accents go
    ("Йогурт", ["йогурт"]),  # й stays a letter of its own (not и)
    ("women's jacket", ["women", "jacket"]),  # the apostrophe ends a word, the lone s goes
    ("MH01-XS-Black", ["mh01", "xs", "black"]),
])
def test_words_fold_case_scripts_and_accents(text, expected):
    assert words(text) == expected


def test_stems_join_inflected_forms_in_three_languages():
    assert stem("jackets") == stem("jacket")
    assert stem("куртку") == stem("куртка") == stem("куртки")
    assert stem("ceketi") == stem("ceket") == stem(fold("ceketler"))
    assert stem("dress") == "dress"  # a double s is not a plural
    kinds = [t.kind for t in terms("red tee jackets")]
    assert kinds == ["word", "word", "word", "stem"]  # short words are their own stem


def test_term_ids_are_stable_and_32_bit():
    assert term_id("jacket") == term_id("jacket") != term_id("jackets")
    assert all(0 <= term_id(w) < 2**32 for w in ("a", "куртка", "sku:mh01-xs-black"))


# ---- lexical vectors ---------------------------------------------------------------------------------------


def _weights(vec) -> dict[int, float]:
    return dict(zip(vec.indices, vec.values))


def test_document_vector_saturates_and_weights_fields():
    doc = encode_document(ProductText(title="Jade yoga jacket", sku="WJ09-Blue", category="Women/Tops/Jackets",
                                      attributes=("blue",)))
    w = _weights(doc)
    assert list(doc.indices) == sorted(doc.indices) and len(set(doc.indices)) == len(doc.indices)
    # "jacket" is a title word (weight 1); "jackets" a category word (0.8): the title counts more
    assert w[term_id("jacket")] > w[term_id("jackets")]
    # the shared stem "~jacke" gets both fields' stem weights, and stays below BM25's ceiling k1 + 1
    assert w[term_id("~jacke")] < 2.2
    assert term_id("sku:wj09-blue") in w
    assert encode_document(ProductText(title="!!!")) is None


def test_query_vector_counts_a_word_once_and_reads_skus_whole():
    q = encode_query("Black black MH01-XS-Black")
    w = _weights(q)
    assert w[term_id("black")] == 1.0
    assert w[term_id("~black")] == 0.5
    assert term_id("sku:mh01-xs-black") in w
    assert encode_query("  !! ") is None


# ---- fusion ------------------------------------------------------------------------------------------------


def test_rrf_is_normalised_to_one_for_an_item_first_everywhere():
    dense = [(1, 0.9), (2, 0.8), (3, 0.1)]
    lexical = [(1, 7.0), (3, 5.0)]
    out = rrf([dense, lexical], [1.0, 1.0], k=60)
    assert out[1] == pytest.approx(1.0)
    # item 3: rank 3 in dense, rank 2 in lexical
    assert out[3] == pytest.approx((1 / 63 + 1 / 62) / (2 / 61))
    assert out[2] == pytest.approx((1 / 62) / (2 / 61))
    assert rrf([dense, lexical], [1.0, 0.0], k=60) == pytest.approx(
        {i: (1 / (60 + r)) / (1 / 61) for r, (i, _) in enumerate(dense, start=1)})


def test_dbsf_maps_each_list_by_its_own_spread():
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]
    lexical = [(3, 10.0)]
    out = dbsf([dense, lexical], [1.0, 1.0])
    mean, sd = 0.5, math.sqrt(((0.4 ** 2) * 2) / 3)
    lo, hi = mean - 3 * sd, mean + 3 * sd
    assert out[1] == pytest.approx(((0.9 - lo) / (hi - lo)) / 2)
    assert out[3] == pytest.approx(((0.1 - lo) / (hi - lo) + 1.0) / 2)  # a one-item list counts as its best
    with pytest.raises(ValueError):
        fuse("max", [dense], [1.0])


# ---- price ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("red jacket under 50", (None, 50.0)),
    ("куртка до 500 руб", (None, 500.0)),
    ("mont 500 tl altı", (None, 500.0)),
    ("500 liradan ucuz ceket", (None, 500.0)),
    ("tees 50-100", (50.0, 100.0)),
    ("от 100 до 500", (100.0, 500.0)),
    ("100 ile 500 arası şort", (100.0, 500.0)),
    ("between $20 and $10", (10.0, 20.0)),
    ("bags over 200", (200.0, None)),
    ("1 500 tl üstü", (1500.0, None)),
    ("shorts below 49.99", (None, 49.99)),
])
def test_price_expressions_in_three_languages(text, expected):
    found = parse_price(fold(text))
    assert found is not None and found[:2] == expected


@pytest.mark.parametrize("text", ["MH01-XS-Black", "24-MB01", "jacket 2 pack", "red jacket"])
def test_skus_and_plain_numbers_are_no_price(text):
    assert parse_price(fold(text)) is None


# ---- the parser -------------------------------------------------------------------------------------------
CATEGORIES = [CategoryInfo(1, "Women", "Women", None), CategoryInfo(2, "Men", "Men", None),
              CategoryInfo(3, "Gear", "Gear", None),
              CategoryInfo(11, "Jackets", "Women/Jackets", 1, products=5),
              CategoryInfo(12, "Hoodies & Sweatshirts", "Women/Hoodies & Sweatshirts", 1, products=4),
              CategoryInfo(21, "Jackets", "Men/Jackets", 2, products=6),
              CategoryInfo(31, "Bags", "Gear/Bags", 3, products=3),
              CategoryInfo(40, "Women Sale", "Women Sale", None)]


def _attrs(parsed) -> dict[str, tuple]:
    return {a.kind: (a.value, a.category_ids) for a in parsed.attributes}


def test_parser_reads_colour_gender_category_and_price():
    p = QueryParser(CATEGORIES)
    got = _attrs(p.parse("black women's jackets under 80"))
    assert got == {"price": ("–80", ()), "colour": ("black", ()), "gender": ("women", (1,)),
                   "category": ("Jackets", (11,))}  # the jackets under Women only
    assert _attrs(p.parse("jacket"))["category"] == ("Jackets", (11, 21))
    assert _attrs(p.parse("hoodie"))["category"][0] == "Hoodies & Sweatshirts"


def test_parser_word_forms_outside_the_colour_lexicon():
    p = QueryParser(CATEGORIES)
    assert _attrs(p.parse("simsiyah erkek çanta"))["colour"][0] == "black"  # emphatic reduplication
    assert _attrs(p.parse("bembeyaz"))["colour"][0] == "white"
    assert _attrs(p.parse("чёрненькая сумка"))["colour"][0] == "black"  # diminutive
    assert _attrs(p.parse("мужская куртка"))["gender"][0] == "men"
    assert "colour" not in _attrs(p.parse("more bags"))  # "more" is not "mor" + e (purple)
    assert "gender" not in _attrs(p.parse("mango menu"))  # English gender words are whole words


def test_parser_uses_the_encoder_for_other_languages_and_ignores_removed_kinds():
    vectors = {"Jackets": [1.0, 0.0, 0.0], "Hoodies & Sweatshirts": [0.0, 1.0, 0.0], "Bags": [0.0, 0.0, 1.0],
               "кухлянка": [0.9, 0.1, 0.0], "zzqx": [0.4, 0.38, 0.4]}

    def embed(texts):
        import numpy as np
        rows = np.asarray([vectors[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    p = QueryParser(CATEGORIES, embed=embed)
    got = p.parse("чёрная женская кухлянка")  # a word the lexicon (engine.search.lexicon) does not know
    assert _attrs(got)["category"] == ("Jackets", (11,)) and got.get("category").how == "encoder"
    assert p.parse("чёрная женская куртка").get("category").how == "stem"  # the lexicon's "jacket"
    assert "category" not in _attrs(p.parse("zzqx"))  # nearest but not clearly nearer than the next
    kept = p.parse("чёрная женская кухлянка", ignore=["colour", "gender", "nonsense"])
    assert set(_attrs(kept)) == {"category"} and kept.ignored == ["colour", "gender"]
    assert _attrs(kept)["category"] == ("Jackets", (11, 21))  # no gender now: both genders' jackets
