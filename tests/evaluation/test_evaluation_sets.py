"""The judged sets the evaluation is made of, read without a runtime: the tune / test split, the attribute queries
(hand-written and generated, graded from attributes), the nonsense set and the wild-photo recipe."""
from __future__ import annotations

import hashlib
import io
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.catalog.colours import find_colours
from engine.errors import ValidationError
from engine.evaluation import (EvaluationReport, Row, WildRecipe, generated, graded_ndcg, hand_written,
                               nonsense_queries, split_of, wild_photos)
from engine.evaluation.attributes import FULL, Attributes, gender_of
from engine.evaluation.splits import check_splits
from engine.evaluation.text import capped_precision


def test_split_is_a_fixed_function_of_seed_and_key_giving_about_halves():
    keys = [f"STYLE-{i}" for i in range(2000)]
    first = [split_of(k) for k in keys]
    assert first == [split_of(k) for k in keys]  # the same on every call (no process-salted hash)
    share = Counter(first)["test"] / len(keys)
    assert 0.45 < share < 0.55
    other = [split_of(k, seed=99) for k in keys]
    assert 0.4 < sum(a != b for a, b in zip(first, other)) / len(keys) < 0.6  # another seed is another split
    assert check_splits(["test", "tune", "test"]) == ("tune", "test")
    with pytest.raises(ValidationError, match="holdout"):
        check_splits(["holdout"])


@pytest.mark.parametrize("language", ["en", "ru", "tr"])
def test_hand_written_queries_are_many_and_use_words_the_colour_lexicon_does_not_know(language):
    queries = hand_written([language])
    assert len(queries) >= 30
    off_lexicon = [q for q in queries if not q.in_lexicon]
    assert len(off_lexicon) >= 8, [q.text for q in queries]
    for q in off_lexicon:  # the flag is the parser's own reading: it finds no colour, or another one
        assert q.colour not in {m.colour for m in find_colours(q.text)}
    assert len({q.text for q in queries}) == len(queries)
    assert all(q.source == "hand" and q.language == language for q in queries)


def test_grades_come_from_the_attributes():
    q = next(q for q in hand_written(["en"]) if q.text == "black women's jacket")
    assert q.grade(Attributes("black", "Jackets", "women")) == FULL
    assert q.grade(Attributes("red", "Jackets", "women")) == 2
    assert q.grade(Attributes("black", "Jackets", "men")) == 2
    assert q.grade(Attributes("red", "Jackets", "men")) == 1
    assert q.grade(Attributes("black", "Tees", "women")) == 0  # another category is not relevant at all
    bag = next(q for q in hand_written(["en"]) if q.text == "black backpack")
    assert bag.gender is None and bag.grade(Attributes("black", "Bags", "women")) == FULL
    assert gender_of("Women/Tops/Jackets") == "women" and gender_of("Gear/Bags") is None
    assert gender_of("Gear/Watches", {"gender": ["Men", "Women", "Unisex"]}) is None
    assert gender_of("Gear/Watches", {"gender": "Women"}) == "women"


def test_generated_queries_cover_each_combination_in_every_language_with_agreeing_russian():
    combos = [("black", "Jackets", "women"), ("blue", "Shorts", "men"), ("gray", "Bags", None),
              ("red", "Hoodies & Sweatshirts", "women")]
    qs = generated(combos)
    assert Counter(q.language for q in qs) == {"en": 4, "ru": 4, "tr": 4}
    assert [q.text for q in qs] == [q.text for q in generated(list(reversed(combos)))]  # phrasing is per combination
    for q in qs:
        assert (q.colour, q.categories[0], q.gender) in combos and q.source == "generated"
    ru_jacket = next(q for q in qs if q.language == "ru" and q.categories == ("Jackets",))
    adjectives = [w for w in ru_jacket.text.split() if w not in ("куртка", "ветровка", "для", "женщин")]
    assert all(w.endswith("ая") for w in adjectives), ru_jacket.text  # feminine noun, feminine adjectives
    ru_shorts = next(q for q in qs if q.language == "ru" and q.categories == ("Shorts",))
    assert all(w.endswith(("ые", "ие")) for w in ru_shorts.text.split() if w not in ("шорты", "для", "мужчин"))
    many = generated([(c, cat, g) for c in ("black", "white", "gray", "red", "blue", "green", "orange", "purple",
                                            "yellow", "brown")
                      for cat in ("Jackets", "Tees", "Pants") for g in ("women", "men")])
    for lang in ("en", "ru", "tr"):
        share = sum(not q.in_lexicon for q in many if q.language == lang) / 60
        assert 0.25 < share < 0.75, (lang, share)


def test_graded_ndcg():
    assert graded_ndcg([7, 3, 1], [1, 3, 7, 0], 3) == pytest.approx(1.0)
    assert graded_ndcg([1, 3, 7], [1, 3, 7], 3) < graded_ndcg([7, 1, 3], [1, 3, 7], 3) < 1.0
    assert graded_ndcg([0, 0], [], 2) == 0.0


def test_capped_precision_divides_by_the_full_matches_when_fewer_than_k():
    full = {1, 2, 3}
    assert capped_precision([1, 2, 3, 9, 8], full, 10) == 1.0  # every full match first: as good as it gets
    assert capped_precision([9, 1, 2, 3], full, 10) == pytest.approx(2 / 3)  # only the first 3 places count
    assert capped_precision(list(range(20, 40)), set(range(20, 30)) | {50}, 10) == 1.0  # k full of matches
    assert capped_precision([1, 9], {1, 2}, 1) == 1.0 and capped_precision([9, 1], {1, 2}, 1) == 0.0
    assert capped_precision([1, 2], set(), 10) == 0.0  # nothing matches: nothing to find


def test_the_nonsense_set_is_fixed():
    first = nonsense_queries()
    assert first == nonsense_queries() and len(first) == len(set(first)) == 60
    assert nonsense_queries(seed=5)[:30] == first[:30] and nonsense_queries(seed=5)[30:] != first[30:]
    assert all(not find_colours(q) for q in first)


def _studio_photo(colour: tuple[int, int, int], kind: int) -> Image.Image:
    """A product on a white studio background, as catalog photos are."""
    im = Image.new("RGB", (300, 380), (255, 255, 255))
    d = ImageDraw.Draw(im)
    if kind == 0:
        d.rectangle([70, 60, 230, 320], fill=colour)
    else:
        d.ellipse([50, 80, 250, 300], fill=colour)
    d.line([150, 60, 150, 320], fill=(20, 20, 20), width=6)
    return im


@pytest.fixture()
def products(tmp_path):
    out = []
    for i, (colour, kind) in enumerate([((200, 30, 30), 0), ((30, 30, 200), 1), ((20, 20, 20), 0),
                                        ((240, 200, 20), 1), ((30, 160, 60), 0)]):
        path = tmp_path / f"p{i}.jpg"
        _studio_photo(colour, kind).save(path)
        out.append((i + 1, f"SKU-{i}", str(path)))
    return out


def _digest(photos) -> list[tuple[int, int, str]]:
    return [(p.product_id, p.index, hashlib.sha256(p.jpeg).hexdigest()) for p in photos]


def test_the_wild_recipe_gives_the_same_photos_for_a_seed_and_others_for_another(products):
    recipe = WildRecipe(seed=3, size=4, side=240)
    first = list(wild_photos(recipe, products, Image.open))
    assert len(first) == 4 and len({p.product_id for p in first}) == 4
    assert _digest(first) == _digest(wild_photos(recipe, list(reversed(products)), Image.open))
    other = list(wild_photos(WildRecipe(seed=4, size=4, side=240), products, Image.open))
    assert {d[2] for d in _digest(first)}.isdisjoint(d[2] for d in _digest(other))
    kept = list(wild_photos(recipe, products, Image.open, keep=lambda pid: pid % 2 == 0))
    assert _digest(kept) == [d for d in _digest(first) if d[0] % 2 == 0]  # skipping moves no other photo
    im = Image.open(io.BytesIO(first[0].jpeg))
    assert im.format == "JPEG" and im.size == (180, 240)
    studio = np.asarray(Image.open(products[first[0].product_id - 1][2]).convert("RGB").resize((180, 240)))
    wild = np.asarray(im.convert("RGB"))
    assert (wild.min(axis=2) > 240).mean() < 0.5 * (studio.min(axis=2) > 240).mean()  # the studio white is gone


def test_report_rows_are_looked_up_by_split_and_language():
    rep = EvaluationReport(rows=[Row("attribute", "NDCG@10", "text/relevance", "included", 0.4, 30, "test", "ru"),
                                 Row("attribute", "NDCG@10", "text/relevance", "included", 0.6, 31, "tune", "ru")])
    assert rep.value("attribute", "NDCG@10", "text/relevance", language="ru") == 0.4
    assert rep.value("attribute", "NDCG@10", "text/relevance", split="tune", language="ru") == 0.6
    with pytest.raises(KeyError):
        rep.value("attribute", "NDCG@10", "text/relevance", language="en")
    table = rep.table()
    assert "[attribute]" in table and "tune" in table and "ru" in table and "nan" not in table.lower()
