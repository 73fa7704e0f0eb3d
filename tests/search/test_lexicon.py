"""The query lexicon: shopper words in Russian, Turkish and English read as the catalog's English words, with
their word forms, Turkish dotted/dotless i folded, unknown words passed through, and hostile input survived."""
from __future__ import annotations

import time

import pytest

from engine.search.lexicon import MAX_WORDS, colour_of, translate, word_english
from engine.search.parse import CategoryInfo, QueryParser
from engine.search.sparse import encode_query, term_id


@pytest.mark.parametrize("query, expected", [
    ("чёрная женская куртка", "black women jacket"),
    ("куртку", "jacket"), ("куртки", "jacket"), ("курткой", "jacket"),  # Russian cases
    ("мужские шорты", "men shorts"), ("наручные часы", "watch"), ("спортивный топ", "bra"),
    ("siyah kadın ceket", "black women jacket"),
    ("ceketler", "jacket"), ("ceketleri", "jacket"), ("pantolonlar", "pants"), ("çantası", "bag"),  # suffixes
    ("eşofman altı", "pants"), ("kül rengi mont", "gray jacket"), ("spor sütyeni", "bra"),
    ("womens tangerine joggers", "women orange pants"), ("ladies windbreakers", "women jacket"),
    ("green t-shirt", "green tee"), ("pamuklu tişört", "cotton tee"), ("кожаная куртка", "leather jacket"),
])
def test_shopper_words_become_the_catalogs_words(query, expected):
    assert translate(query).text == expected


@pytest.mark.parametrize("word", ["KADIN", "Kadın", "KADİN", "kadin"])
def test_turkish_dotted_and_dotless_i_fold_alike(word):
    assert translate(word).text == "women"
    assert translate(f"{word} ŞORT").text == "women shorts"
    assert translate("SİYAH KIZIL").text == "black red"


def test_unknown_words_pass_through_and_lookalikes_are_not_read():
    t = translate("Nadia zzqx куртка")
    assert t.text == "nadia zzqx jacket" and dict(zip(t.words, t.english)) == {"nadia": "", "zzqx": "", "куртка": "jacket"}
    # stems that start unrelated words are not read: "часть" (part) is not "часы", "топор" (axe) is not "топ",
    # "mortal" is not "mont", "bayram" is not "bay", "short" stays English
    for word in ("часть", "топор", "mortal", "bayram", "кожура"):
        assert word_english(word) is None, word
    assert translate("short sleeve").text == "short sleeve"
    assert colour_of("ebony") == "black" and colour_of("угольная") == "black" and colour_of("jacket") is None


def test_translation_feeds_bm25_the_catalogs_terms():
    parser = QueryParser([CategoryInfo(1, "Women", "Women", None), CategoryInfo(2, "Jackets", "Women/Jackets", 1, 5)])
    parsed = parser.parse("siyah kadın ceket")
    assert {a.kind: a.value for a in parsed.attributes} == {"colour": "black", "gender": "women",
                                                            "category": "Jackets"}
    vec = encode_query(parsed.lexical_text())
    assert {term_id("jacket"), term_id("ceket"), term_id("black"), term_id("women")} <= set(vec.indices)
    assert parsed.retrieval_text() == "black women jacket"
    # a chip taken off takes its words out of both texts, a phrase with both its words
    off = parser.parse("kül rengi kadın ceket", ignore=["colour"])
    assert off.retrieval_text() == "women jacket" and "kul" not in off.lexical_text().split()
    assert "gray" not in off.lexical_text().split() and "rengi" not in off.lexical_text().split()


def test_hostile_input():
    long = "куртка " * 50_000 + "\x00\x07\u202e\ufeff"
    t0 = time.perf_counter()
    t = translate(long)
    assert time.perf_counter() - t0 < 2.0
    assert len(t.words) <= MAX_WORDS and set(t.english) == {"jacket"}
    assert translate("\x00\x01\x1b[31m jacket\u200b\u202e").text == "31m jacket"
    assert translate("").text == "" and translate("   \t\n").words == ()
    assert translate("!!! ??? ---").text == ""
    assert translate("t").text == ""  # a lone letter says nothing
    t0 = time.perf_counter()  # shade words written together, and a colour phrase as long as the query
    assert translate("dark" * 500).text == "dark" * 500 and translate("dark " * 400 + "blue").words[0] == "dark"
    assert time.perf_counter() - t0 < 2.0
