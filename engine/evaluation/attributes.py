"""Judged attribute queries in English, Russian and Turkish: "black women's jacket", "чёрная женская куртка",
"siyah kadın ceket". Each names a colour, a category and (for clothes) a gender; relevance is graded from the
catalog's own attributes, never from the ranking under test.

Two sources. Hand-written queries (queries/<lang>.jsonl, at least 30 a language) say things the way shoppers do.
Generated queries cover every colour × category × gender combination the catalog holds, phrased from the
vocabulary below. Both use word forms and synonyms the query parser's colour lexicon (engine.catalog.colours)
does not know ("ebony", "угольная", "simsiyah") beside the ones it does, so a parser that only looks words up in
its own lexicon cannot score well by construction; each query records which kind it is (`in_lexicon`).

Grades: 0 when the category differs; otherwise 1, plus 1 for the gender and 1 for the colour (each counted when
it matches or when the query does not name it). Grade 3 is a full attribute match: attribute Precision@k
counts those, NDCG@k uses gains 2^grade − 1.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Sequence

from engine.catalog.colours import CANONICAL, find_colours
from engine.errors import ValidationError
from engine.evaluation.splits import SPLIT_SEED, split_of

LANGUAGES = ("en", "ru", "tr")
GENDERS = ("women", "men")
FULL = 3  # the grade of a full attribute match
GENERATION_SEED = 12


@dataclass(frozen=True)
class Attributes:
    """What a product is, for judging: its canonical colour, leaf category name and gender (None: unisex gear)."""

    colour: str | None
    category: str | None
    gender: str | None


@dataclass(frozen=True)
class AttributeQuery:
    text: str
    language: str
    colour: str | None
    categories: tuple[str, ...]  # leaf category names any of which fits ("Tanks", "Bras & Tanks")
    gender: str | None
    source: str  # "hand" | "generated"
    in_lexicon: bool  # the parser's lexicon finds the query's colour in its words

    @property
    def key(self) -> str:
        """The attribute combination: every phrasing and language of one combination shares a split."""
        return f"{self.colour}|{'/'.join(sorted(self.categories))}|{self.gender}"

    def split(self, seed: int = SPLIT_SEED) -> str:
        return split_of("attribute:" + self.key, seed)

    def grade(self, item: Attributes) -> int:
        if item.category not in self.categories:
            return 0
        return 1 + (self.gender is None or item.gender == self.gender) + (self.colour is None or
                                                                            item.colour == self.colour)


def gender_of(category_path: str | None, attributes: dict | None = None) -> str | None:
    """A product's gender: an explicit `gender` attribute naming one gender, else the top of its category path
    (Men / Women); an attribute naming both (Luma gear: ["Men", "Women", "Unisex"]) is no gender."""
    raw = (attributes or {}).get("gender")
    values = raw if isinstance(raw, list) else [raw] if raw is not None else []
    named = {_GENDER_WORDS.get(str(v).strip().lower(), "other") for v in values}
    if named:
        return next(iter(named)) if len(named) == 1 and named <= set(GENDERS) else None
    top = (category_path or "").split("/")[0].strip().lower()
    return top if top in GENDERS else None


_GENDER_WORDS = {"women": "women", "woman": "women", "female": "women", "men": "men", "man": "men", "male": "men"}


def lexicon_colour(text: str) -> str | None:
    found = find_colours(text)
    return found[0].colour if found else None


# ---- hand-written queries --------------------------------------------------------------------------------
def _parse(line: str, language: str, where: str) -> AttributeQuery:
    try:
        q = json.loads(line)
        text, colour, gender = q["text"], q.get("colour"), q.get("gender")
        categories = q["category"] if isinstance(q["category"], list) else [q["category"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ValidationError(f"{where}: {e}") from None
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"{where}: 'text' must be a non-empty string")
    if colour is not None and colour not in CANONICAL:
        raise ValidationError(f"{where}: colour {colour!r} is not one of {', '.join(CANONICAL)}")
    if gender is not None and gender not in GENDERS:
        raise ValidationError(f"{where}: gender must be women, men or null, got {gender!r}")
    if not categories or not all(isinstance(c, str) and c for c in categories):
        raise ValidationError(f"{where}: 'category' must name leaf categories")
    return AttributeQuery(text, language, colour, tuple(categories), gender, "hand", lexicon_colour(text) == colour)


def hand_written(languages: Sequence[str] = LANGUAGES) -> list[AttributeQuery]:
    """The queries shipped with the engine (engine/evaluation/queries/<lang>.jsonl)."""
    out = []
    folder = resources.files("engine.evaluation") / "queries"
    for lang in languages:
        text = (folder / f"{lang}.jsonl").read_text(encoding="utf-8")
        for no, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                out.append(_parse(line, lang, f"queries/{lang}.jsonl line {no}"))
    return out


# ---- generated queries -----------------------------------------------------------------------------------
# Colour words: (word, known to the parser's lexicon). Unknown ones are synonyms and word forms a shopper uses.
_EN_COLOURS = {
    "black": ["black", "blackish", "ebony", "onyx"], "white": ["white", "snowy", "pearl"],
    "gray": ["gray", "grey", "greyish", "ash", "slate"], "red": ["red", "ruby", "brick"],
    "blue": ["blue", "navy", "sapphire"], "green": ["green", "emerald", "sage"],
    "orange": ["orange", "tangerine", "pumpkin"], "purple": ["purple", "amethyst", "grape", "mauve"],
    "yellow": ["yellow", "canary", "sunflower"], "brown": ["brown", "cocoa", "mocha"],
}
# Russian adjective stems and their declension: hard (-ый), stressed (-ой), soft (-ий) or velar (-кий).
_RU_ENDINGS = {"hard": {"m": "ый", "f": "ая", "n": "ое", "pl": "ые"},
               "stressed": {"m": "ой", "f": "ая", "n": "ое", "pl": "ые"},
               "soft": {"m": "ий", "f": "яя", "n": "ее", "pl": "ие"},
               "velar": {"m": "ий", "f": "ая", "n": "ое", "pl": "ие"}}
_RU_COLOURS = {
    "black": [("чёрн", "hard"), ("чёрненьк", "velar"), ("угольн", "hard"), ("смолян", "stressed")],
    "white": [("бел", "hard"), ("белоснежн", "hard")],
    "gray": [("сер", "hard"), ("пепельн", "hard"), ("дымчат", "hard")],
    "red": [("красн", "hard"), ("рубинов", "hard"), ("кирпичн", "hard")],
    "blue": [("син", "soft"), ("васильков", "hard"), ("сапфиров", "hard")],
    "green": [("зелён", "hard"), ("малахитов", "hard"), ("травян", "stressed")],
    "orange": [("оранжев", "hard"), ("апельсинов", "hard"), ("мандаринов", "hard")],
    "purple": [("фиолетов", "hard"), ("аметистов", "hard"), ("баклажанов", "hard")],
    "yellow": [("жёлт", "hard"), ("канареечн", "hard"), ("солнечн", "hard")],
    "brown": [("коричнев", "hard"), ("каштанов", "hard"), ("орехов", "hard")],
}
_TR_COLOURS = {
    "black": ["siyah", "kara", "simsiyah", "kapkara"], "white": ["beyaz", "bembeyaz"],
    "gray": ["gri", "kül rengi"], "red": ["kırmızı", "kıpkırmızı", "kızıl"], "blue": ["mavi", "masmavi"],
    "green": ["yeşil", "yemyeşil", "zümrüt"], "orange": ["turuncu", "mandalina rengi", "oranj"],
    "purple": ["mor", "mosmor", "leylak"], "yellow": ["sarı", "sapsarı", "kanarya"],
    "brown": ["kahverengi", "kahve rengi", "kestane rengi"],
}
# Nouns per leaf category; Russian nouns carry their grammatical gender (m / f / n / pl) for agreement.
_EN_NOUNS = {
    "Jackets": ["jacket", "jackets", "windbreaker", "shell jacket"],
    "Hoodies & Sweatshirts": ["hoodie", "hoodies", "sweatshirt", "pullover hoodie"],
    "Tees": ["t-shirt", "tee", "tees"], "Tanks": ["tank top", "sleeveless tank"],
    "Bras & Tanks": ["sports bra", "tank top", "bra top"], "Pants": ["pants", "trousers", "joggers"],
    "Shorts": ["shorts", "gym shorts", "running shorts"], "Bags": ["bag", "backpack", "duffle bag"],
    "Watches": ["watch", "wristwatch", "sports watch"],
    "Fitness Equipment": ["fitness gear", "workout equipment", "exercise equipment"],
}
_RU_NOUNS = {
    "Jackets": [("куртка", "f"), ("ветровка", "f")],
    "Hoodies & Sweatshirts": [("худи", "n"), ("толстовка", "f"), ("свитшот", "m")],
    "Tees": [("футболка", "f")], "Tanks": [("майка", "f")],
    "Bras & Tanks": [("спортивный топ", "m"), ("майка", "f")],
    "Pants": [("брюки", "pl"), ("штаны", "pl"), ("спортивные штаны", "pl")], "Shorts": [("шорты", "pl")],
    "Bags": [("сумка", "f"), ("рюкзак", "m")], "Watches": [("часы", "pl"), ("наручные часы", "pl")],
    "Fitness Equipment": [("спортивный инвентарь", "m"), ("тренажёр", "m")],
}
_TR_NOUNS = {
    "Jackets": ["ceket", "mont", "rüzgarlık"], "Hoodies & Sweatshirts": ["kapüşonlu sweatshirt", "sweatshirt"],
    "Tees": ["tişört", "t-shirt"], "Tanks": ["atlet"], "Bras & Tanks": ["spor sütyeni", "atlet"],
    "Pants": ["pantolon", "eşofman altı"], "Shorts": ["şort"], "Bags": ["çanta", "sırt çantası"],
    "Watches": ["saat", "kol saati"], "Fitness Equipment": ["fitness ekipmanı", "spor aleti"],
}
# Gender words: (word, placed after the noun).
_EN_GENDER = {"women": [("women's", False), ("womens", False), ("ladies", False), ("for women", True)],
              "men": [("men's", False), ("mens", False), ("for men", True)]}
_RU_GENDER = {"women": [("женск", False), ("для женщин", True)], "men": [("мужск", False), ("для мужчин", True)]}
_TR_GENDER = {"women": [("kadın", False), ("bayan", False), ("kadınlar için", True)],
              "men": [("erkek", False), ("erkekler için", True)]}


def _phrase(lang: str, colour: str, category: str, gender: str | None, rng: random.Random) -> str | None:
    nouns = {"en": _EN_NOUNS, "ru": _RU_NOUNS, "tr": _TR_NOUNS}[lang].get(category)
    colours = {"en": _EN_COLOURS, "ru": _RU_COLOURS, "tr": _TR_COLOURS}[lang].get(colour)
    if not nouns or not colours:
        return None
    noun = rng.choice(nouns)
    word = colours[0] if rng.random() < 0.5 else rng.choice(colours[1:])  # half of them off the lexicon
    g_word, g_after = rng.choice({"en": _EN_GENDER, "ru": _RU_GENDER, "tr": _TR_GENDER}[lang][gender]) \
        if gender else ("", False)
    if lang == "ru":
        noun, form = noun
        stem, kind = word
        word = stem + _RU_ENDINGS[kind][form]
        if g_word and not g_after:
            g_word += _RU_ENDINGS["velar"][form]
    parts = [word, g_word, noun] if rng.random() < 0.6 else [g_word, word, noun]
    if g_after:
        parts = [word, noun, g_word]
    return " ".join(p for p in parts if p)


def generated(combinations: Iterable[tuple[str, str, str | None]], languages: Sequence[str] = LANGUAGES,
              seed: int = GENERATION_SEED) -> list[AttributeQuery]:
    """One query per (colour, leaf category, gender) combination and language; the phrasing of each is drawn
    by a generator seeded with the combination itself, so adding a product never rephrases another query."""
    out = []
    for colour, category, gender in sorted(set(combinations), key=lambda c: (c[0], c[1], c[2] or "")):
        for lang in languages:
            rng = random.Random(f"{seed}|{lang}|{colour}|{category}|{gender}")
            text = _phrase(lang, colour, category, gender, rng)
            if text:
                out.append(AttributeQuery(text, lang, colour, (category,), gender, "generated",
                                          lexicon_colour(text) == colour))
    return out


def attribute_queries(items: Iterable[Attributes], languages: Sequence[str] = LANGUAGES,
                      seed: int = GENERATION_SEED) -> list[AttributeQuery]:
    """The hand-written queries, then one generated query per combination the catalog holds."""
    combos = {(a.colour, a.category, a.gender) for a in items if a.colour and a.category}
    return hand_written(languages) + generated(combos, languages, seed)
