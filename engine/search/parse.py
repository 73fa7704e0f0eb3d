"""Query understanding: the colour, gender, category and price a shopper's query names, in Russian, Turkish or
English, read out of the text so search can hold results to them (engine.search.text) and the console can show
them as removable chips.

- Colour: the query lexicon's reading of a word or colour phrase (engine.search.lexicon: "тёмно-синий",
  "kül rengi", "olive"), else the catalog's colour lexicon (engine.catalog.colours: word forms, Russian
  adjective endings, Turkish suffixes), plus two regular word formations it does not list: the Turkish
  emphatic reduplication (simsiyah, bembeyaz, masmavi: the first syllable closed by m/p/s/r before the
  colour) and the Russian diminutive (чёрненький, беленькая: -еньк-/-оньк- before the ending).
- Gender: the words for women and men in the three languages, as folded word prefixes; applied as the
  catalog's own top-level category of that name (Women / Men), so it exists only where the catalog has one.
- Category: the catalog's category names. First by shared word stems ("jacket" → Jackets, "hoodie" →
  Hoodies & Sweatshirts); else, for other languages and synonyms ("куртка", "ceket", "windbreaker"), by the
  text encoder: the words left after colour, gender and price against every category name, taken when the
  nearest is close enough and clearly nearer than the next (CATEGORY_MIN_SIMILARITY, CATEGORY_MARGIN, tuned
  on the tune split of the judged queries).
- Price: "under 50", "до 500", "500 TL altı", "50-100", "от 100 до 500", "100 ile 500 arası", "over 200"...
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from engine.catalog.colours import CANONICAL, find_colours
from engine.search.lexicon import Translation, translate
from engine.search.tokens import fold, stem, words

KINDS = ("colour", "gender", "category", "price")
CATEGORY_MIN_SIMILARITY = 0.45
CATEGORY_MARGIN = 0.04

_GENDER_PREFIXES = {
    "women": ("women", "woman", "womens", "ladies", "lady", "female", "женск", "женщин", "дамск", "kadin",
              "bayan"),
    "men": ("men", "man", "mens", "male", "gents", "мужск", "мужчин", "erkek"),
}
# English prefixes must match whole words ("man" is not "mango", "men" is not "menu"); Russian and Turkish
# ones take their endings (женская, женщинам, kadınlar, erkekler).
_WHOLE_WORD = {"women", "woman", "womens", "ladies", "lady", "female", "men", "man", "mens", "male", "gents"}

# Price. Numbers: 1 500, 1.500, 1,500, 49.99; currency words are optional and dropped with the expression.
_NUM = r"(\d{1,3}(?:[ .,]\d{3})+|\d+(?:[.,]\d{1,2})?)"
_CUR = r"(?:\s*(?:\$|€|£|₽|₺|usd|eur|dollars?|euros?|rub|руб\w*|р\.?|tl|lira\w*|try)(?!\w))?"
_PRICE_PATTERNS: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.IGNORECASE), kind) for p, kind in (
    (rf"(?:from|от)\s*[$€£₽₺]?{_NUM}{_CUR}\s*(?:to|до|-|–)\s*[$€£₽₺]?{_NUM}{_CUR}", "range"),
    (rf"between\s*[$€£₽₺]?{_NUM}{_CUR}\s*and\s*[$€£₽₺]?{_NUM}{_CUR}", "range"),
    (rf"{_NUM}{_CUR}\s*(?:ile|ila)\s*{_NUM}{_CUR}\s*aras\w*", "range"),
    (rf"(?<![\w-])[$€£₽₺]?{_NUM}{_CUR}\s*(?:-|–|to)\s*[$€£₽₺]?{_NUM}{_CUR}(?![\w-])", "range"),
    (rf"(?:under|below|less\s+than|cheaper\s+than|up\s+to|max(?:imum)?|до|дешевле|не\s+дороже|менее|меньше)"
     rf"\s*[$€£₽₺]?{_NUM}{_CUR}", "max"),
    (rf"{_NUM}{_CUR}\s*(?:'?(?:[ydt][ae]n|[ae]|y[ae])\s+)?(?:alt\w*|kadar|ucuz\w*|e\s+kadar)", "max"),
    (rf"(?:over|above|more\s+than|from|min(?:imum)?|от|дороже|свыше|более)\s*[$€£₽₺]?{_NUM}{_CUR}", "min"),
    (rf"{_NUM}{_CUR}\s*(?:'?[ydt][ae]n\s+)?(?:üst\w*|ust\w*|üzer\w*|uzer\w*|fazla|pahal\w*)", "min"),
)]


@dataclass(frozen=True)
class Attribute:
    """One thing the query names. `value` is the canonical value (colour name, women/men, category name, or
    "min–max"); `words` the folded words of the query that named it; category ids for category and gender."""

    kind: str
    value: str
    words: tuple[str, ...] = ()
    category_ids: tuple[int, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    how: str = "lexicon"  # lexicon | stem | encoder | pattern
    any_ids: tuple[int, ...] = ()  # category: the named categories under every gender (what a product "is")

    @property
    def label(self) -> str:
        return f"{self.kind}: {self.value}"


@dataclass
class ParsedQuery:
    text: str
    attributes: list[Attribute] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # kinds the caller removed (chips taken off)
    rest: str = ""  # the words no attribute explained
    price_text: str = ""  # the price expression, left out of the retrieval text
    dropped: set[str] = field(default_factory=set)  # folded words of the attributes the caller removed
    translation: Translation | None = None  # the query's words in the catalog's words (engine.search.lexicon)

    def retrieval_text(self) -> str:
        """What the dense and lexical lists search for: the query in the catalog's words (known words
        translated), less the words of every attribute the caller removed (a chip taken off must not
        keep pulling its colour in through the vectors) and less a price expression (a limit, not a word
        products hold)."""
        tr = self.translation or translate(self.text)
        return tr.without(self.dropped).text

    def lexical_text(self) -> str:
        """The words BM25 matches: the query's own words beside their catalog words (a brand or a model name
        the lexicon does not know still counts, and an English word keeps its exact form), less removed
        attributes' words."""
        tr = (self.translation or translate(self.text)).without(self.dropped)
        return " ".join(dict.fromkeys(tr.original.split() + tr.text.split()))

    def get(self, kind: str) -> Attribute | None:
        return next((a for a in self.attributes if a.kind == kind), None)


@dataclass(frozen=True)
class CategoryInfo:
    id: int
    name: str
    path: str
    parent_id: int | None
    products: int = 0  # products whose primary category this is


def _number(raw: str) -> float:
    s = raw.replace(" ", "")
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", s):
        return float(re.sub(r"[.,]", "", s))
    return float(s.replace(",", "."))


def parse_price(text: str) -> tuple[float | None, float | None, str] | None:
    """(min, max, the matched text) of the first price expression, or None."""
    for pattern, kind in _PRICE_PATTERNS:
        m = pattern.search(text)
        if not m:
            continue
        nums = [_number(g) for g in m.groups() if g]
        if kind == "range":
            lo, hi = sorted(nums[:2])
            return lo, hi, m.group()
        return (None, nums[0], m.group()) if kind == "max" else (nums[0], None, m.group())
    return None


def _extra_colour(word: str) -> str | None:
    """Colour words the lexicon does not list but regular word formation makes of words it does."""
    m = re.fullmatch(r"([a-z]{1,2}[aeiou]?)([mprs])(\w+)", word)
    if m and len(m.group(1)) <= 2 and m.group(3).startswith(m.group(1)[:2]):
        found = find_colours(m.group(3))  # simsiyah → siyah, bembeyaz → beyaz, masmavi → mavi
        if found:
            return found[0].colour
    for suffix in ("еньк", "оньк"):
        i = word.find(suffix)
        if i > 1:
            found = find_colours(word[:i] + word[i + len(suffix):])  # черненький → черний
            if found:
                return found[0].colour
    return None


def _with_phrase(tr: Translation, word: str) -> tuple[str, ...]:
    """`word` with the other words of its lexicon phrase ("kul" with "rengi", "темно" with "синий")."""
    return tuple(tr.words[k] for k in tr.phrase(tr.words.index(word)))


def gender_of_word(word: str) -> str | None:
    for gender, prefixes in _GENDER_PREFIXES.items():
        for p in prefixes:
            if (word == p) if p in _WHOLE_WORD else word.startswith(p):
                return gender
    return None


Embed = Callable[[Sequence[str]], np.ndarray]


class QueryParser:
    """Built from the catalog's categories (and the text encoder, for category names in other languages);
    cheap to call per query. `embed` returns unit vectors, one row per text."""

    def __init__(self, categories: Iterable[CategoryInfo], embed: Embed | None = None,
                 min_similarity: float = CATEGORY_MIN_SIMILARITY, margin: float = CATEGORY_MARGIN):
        self.categories = list(categories)
        self.by_id = {c.id: c for c in self.categories}
        self.embed, self.min_similarity, self.margin = embed, min_similarity, margin
        self.genders: dict[str, list[int]] = {}
        for c in self.categories:
            if c.parent_id is None:
                g = gender_of_word(fold(c.name))
                if g and len(words(c.name)) == 1:
                    self.genders.setdefault(g, []).append(c.id)
        # Category names a shopper means by a noun: those with products of their own (leaves), by folded name.
        self.names: dict[str, list[int]] = {}
        for c in self.categories:
            if c.products > 0:
                self.names.setdefault(c.name, []).append(c.id)
        self.name_stems = {name: {stem(w) for w in words(name) if len(w) > 2} for name in self.names}
        self._name_vectors: np.ndarray | None = None

    # ---- category ---------------------------------------------------------------------------------------
    def _category_by_stem(self, ws: list[tuple[str, str]]) -> tuple[list[str], set[str]]:
        """Category names sharing a stem with a word or with the catalog words the lexicon gives for it."""
        stems: dict[str, str] = {}
        for w, english in ws:
            for candidate in [w] + english.split():
                if len(candidate) > 2:
                    stems.setdefault(stem(candidate), w)
        hits = [name for name, ns in self.name_stems.items() if ns & set(stems)]
        used = {stems[s] for name in hits for s in self.name_stems[name] & set(stems)}
        return hits, used

    def _category_by_encoder(self, rest: str) -> tuple[str, float] | None:
        if self.embed is None or not rest.strip() or not self.names:
            return None
        names = list(self.names)
        if self._name_vectors is None:
            self._name_vectors = np.asarray(self.embed(names), dtype=np.float32)
        q = np.asarray(self.embed([rest]), dtype=np.float32)[0]
        sims = self._name_vectors @ q
        order = np.argsort(-sims)
        best = float(sims[order[0]])
        second = float(sims[order[1]]) if len(order) > 1 else -1.0
        if best >= self.min_similarity and best - second >= self.margin:
            return names[int(order[0])], best
        return None

    def _ids_for(self, names: list[str], gender_ids: list[int]) -> tuple[int, ...]:
        ids = [cid for n in names for cid in self.names[n]]
        if gender_ids:
            under = [cid for cid in ids if self._root(cid) in gender_ids]
            ids = under or ids
        return tuple(sorted(set(ids)))

    def _root(self, cid: int) -> int:
        seen = set()
        while self.by_id.get(cid) is not None and self.by_id[cid].parent_id is not None and cid not in seen:
            seen.add(cid)
            cid = self.by_id[cid].parent_id  # type: ignore[assignment]
        return cid

    # ---- the whole query --------------------------------------------------------------------------------
    def parse(self, text: str, ignore: Iterable[str] = ()) -> ParsedQuery:
        ignore = [k for k in dict.fromkeys(ignore) if k in KINDS]
        out = ParsedQuery(text, ignored=list(ignore))
        folded = fold(text)
        price = parse_price(folded)
        if price is not None:
            lo, hi, matched = price
            folded = folded.replace(matched, " ")
            out.price_text = matched
            if "price" not in ignore:
                value = f"{'' if lo is None else f'{lo:g}'}–{'' if hi is None else f'{hi:g}'}"
                out.attributes.append(Attribute("price", value, tuple(words(matched)), price_min=lo, price_max=hi,
                                                how="pattern"))
        tr = translate(folded)
        ws = list(tr.words)
        used: set[str] = set()
        colour = None
        for i, w in enumerate(ws):
            if tr.english[i] in CANONICAL:  # the lexicon's reading first: it knows phrases ("dark green")
                name = tr.english[i]
            else:
                c = find_colours(w)
                name = c[0].colour if c else _extra_colour(w)
            if name:
                colour = colour or (name, w)
                used.add(w)
        if colour and "colour" not in ignore:
            out.attributes.append(Attribute("colour", colour[0], _with_phrase(tr, colour[1])))
        elif colour:
            out.dropped.update(_with_phrase(tr, colour[1]))
        gender = None
        for i, w in enumerate(ws):
            g = gender_of_word(w) or (tr.english[i] if tr.english[i] in ("women", "men") else None)
            if g:
                gender = gender or (g, w)
                used.add(w)
        gender_ids = self.genders.get(gender[0], []) if gender else []
        if gender and gender_ids and "gender" not in ignore:
            out.attributes.append(Attribute("gender", gender[0], (gender[1],), tuple(gender_ids)))
        elif gender:
            out.dropped.add(gender[1])
        rest = [(w, tr.english[i]) for i, w in enumerate(ws) if w not in used]
        rest_words = [w for w, _ in rest]
        names, cat_words = self._category_by_stem(rest)
        cat_words = {p for w in cat_words for p in _with_phrase(tr, w)}  # "sirt" with "cantasi"
        how = "stem"
        if not names:
            found = self._category_by_encoder(" ".join(e or w for w, e in rest))
            names, cat_words, how = ([found[0]], set(rest_words), "encoder") if found else ([], set(), how)
        if names:
            gids = gender_ids if gender and "gender" not in ignore else []
            ids = self._ids_for(names, gids)
            names = [n for n in names if set(self.names[n]) & set(ids)] or names
            if "category" not in ignore:
                out.attributes.append(Attribute("category", " / ".join(names), tuple(sorted(cat_words)), ids,
                                                how=how, any_ids=self._ids_for(names, [])))
            else:
                out.dropped.update(cat_words)
        out.translation = tr
        out.rest = " ".join(w for w in rest_words if w not in cat_words)
        return out
