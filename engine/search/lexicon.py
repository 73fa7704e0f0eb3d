"""A shopper's words in Russian, Turkish and English mapped to the words an English catalog uses: garment, bag,
watch and gear names with their word forms, gender words, colour words and colour expressions the catalog's
colour lexicon (engine.catalog.colours) does not list, and materials.

Why: product texts are English. A dense multilingual encoder bridges languages only loosely, and the lexical
(BM25) list cannot bridge them at all: "куртка" or "ceket" shares no term with "Jacket". Translating the known
words of a query gives BM25 English terms to match, gives the encoder the catalog's own words, and gives the
query parser (engine.search.parse) category and colour words it can read. Unknown words pass through unchanged,
so a brand, a model name or a word the lexicon lacks still reaches both lists.

The vocabulary (engine.search.vocabulary) is built from general shopper vocabulary (what a store's search box
sees for clothes, bags, watches and fitness gear), not from any judged query set; this module holds the matching.

Matching is on folded words (engine.search.tokens.fold: case, ё/е, Turkish dotted/dotless i, accents); a hyphen
splits words ("тёмно-синий" is "темно" "синий", "t-shirt" is "t" "shirt"):
- English and other whole words: the word itself (a plural "s" dropped: "joggers" → "jogger");
- Russian: a stem followed by a noun or adjective ending (куртк|а|у|и|ой, женск|ая|ий|ие);
- Turkish: a stem followed by common suffixes (ceket|i|ler|leri, pantolon|lar, çanta|sı);
- phrases first: two-word names ("eşofman altı", "kol saati", "t shirt"; Russian also with "для" between:
  "коврик для йоги"), then colour expressions of two words or more, read as one colour: a shade or modifier
  before a colour ("dark green", "тёмно-синий", "koyu mavi", "rose gold"), a word for "colour" beside one
  ("черного цвета", "цвета хаки", "kül rengi", "sand coloured"), two names of one colour ("navy blue", "limon
  sarısı") and colour idioms ("цвета морской волны", "gül kurusu"). A shade written together with its colour
  ("темносиний", "lightblue") is read as that colour too."""
from __future__ import annotations

import re
from dataclasses import dataclass

from engine.catalog.colours import CANONICAL, find_colours
from engine.search.tokens import fold
from engine.search.vocabulary import (COLOUR_FRAMES, COLOUR_IDIOMS, COLOUR_MODIFIERS, EN, NOT_QUERY_COLOURS,
                                      PHRASES, RU, RU_COLOUR_NOUNS, RU_EXACT, TR, TR_EXACT)

MAX_WORDS = 64  # words of a query translated; later words are left out
MAX_CHARS = 2000  # characters of a query read (the service refuses longer queries; this bounds any other caller)
MAX_MODIFIERS = 4  # shade, modifier and "colour" words read before one colour ("colour: light heather grey")

# Noun and adjective endings after a Russian stem (the empty ending: the stem is the word).
_RU_ENDINGS = frozenset({
    "", "а", "у", "и", "е", "ы", "ой", "ей", "ам", "ям", "ами", "ями", "ах", "ях", "ов", "ев", "ом", "ем", "ю",
    "ый", "ий", "ая", "яя", "ое", "ее", "ые", "ие", "ого", "его", "ому", "ему", "ым", "им", "ую", "юю", "ых",
    "их", "ыми", "ими", "ки", "ка", "ку", "кой", "я", "ь", "ью",
})
# Plural, possessive, case and "with" suffixes, in their usual order (ceket|ler|i|ni, çanta|sı|nda, pamuk|lu).
_TR_SUFFIX = re.compile(r"(?:l[ae]r)?(?:[iu]|s[iu]|y[iu])?(?:n[iu]n|[iu]n|n?[dt][ae]n?|n?[iu]|y?[ae]|l[iu])?")
_TR_EXACT = {stem: re.compile(pattern) for stem, pattern in TR_EXACT.items()}
# Shade words that may be written together with their colour ("темносиний", "darkgreen"); four letters at least,
# so "sea" + "red" is not "seared".
_SHADE_PREFIXES = tuple(sorted((w for w, own in COLOUR_MODIFIERS.items() if not own and len(w) >= 4),
                               key=len, reverse=True))


@dataclass(frozen=True)
class Translation:
    """A query's folded words, each with the catalog words it stands for ("" when the lexicon does not know it).
    Every word of a phrase carries the phrase's words; the words after its first are marked `joined`."""

    words: tuple[str, ...]
    english: tuple[str, ...]
    joined: tuple[bool, ...]

    @property
    def text(self) -> str:
        """The query in the catalog's words: known words translated, unknown words as they were."""
        return " ".join(e or w for w, e, j in zip(self.words, self.english, self.joined) if not j)

    def phrase(self, i: int) -> range:
        """The positions of the phrase word `i` belongs to (only `i` for a word of its own)."""
        start, end = i, i + 1
        while start > 0 and self.joined[start]:
            start -= 1
        while end < len(self.words) and self.joined[end]:
            end += 1
        return range(start, end)

    def without(self, drop: set[str]) -> Translation:
        """The translation less the words in `drop` (a chip taken off); a phrase goes with any of its words."""
        keep = [True] * len(self.words)
        for i, w in enumerate(self.words):
            if w in drop:
                for k in self.phrase(i):
                    keep[k] = False
        idx = [i for i, k in enumerate(keep) if k]
        return Translation(tuple(self.words[i] for i in idx), tuple(self.english[i] for i in idx),
                           tuple(self.joined[i] for i in idx))

    @property
    def original(self) -> str:
        return " ".join(self.words)


def _ru(word: str) -> str | None:
    for n in range(len(word), 1, -1):
        stem = word[:n]
        target = RU.get(stem)
        if target is None:
            continue
        ending = word[n:]
        allowed = RU_EXACT.get(stem)
        if (ending in allowed) if allowed is not None else ending in _RU_ENDINGS:
            return target
    return None


def _tr(word: str) -> str | None:
    for n in range(len(word), 2, -1):
        stem = word[:n]
        target = TR.get(stem)
        if target is None:
            continue
        suffix = _TR_EXACT.get(stem)
        if (suffix or _TR_SUFFIX).fullmatch(word, n):
            return target
    return None


def _en(word: str) -> str | None:
    hit = EN.get(word)
    if hit is None and len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        hit = EN.get(word[:-1])
    return hit


def word_english(word: str) -> str | None:
    """The catalog words one folded word stands for, or None."""
    if not word:
        return None
    if word.isascii():
        return _en(word) or _tr(word)
    return _ru(word) or _tr(word)


# ---- colours -----------------------------------------------------------------------------------------------
def _colour_lexicon(word: str, compound: bool = True) -> str | None:
    """The colour the catalog's colour lexicon gives a word, weak words too (a query is a short label, as a title
    is) but for those that in a query often name a thing (vocabulary.NOT_QUERY_COLOURS); or, with `compound`,
    one shade word written together with a colour ("темносиний", "darkgreen")."""
    if word in NOT_QUERY_COLOURS:
        return None
    found = find_colours(word, weak=True)
    if found:
        return found[0].colour
    for prefix in _SHADE_PREFIXES if compound else ():
        rest = word[len(prefix):]
        if word.startswith(prefix) and len(rest) >= 3:
            e = word_english(rest)
            colour = (e if e in CANONICAL else None) if e else _colour_lexicon(rest, compound=False)
            if colour:
                return colour
    return None


def colour_english(word: str) -> str | None:
    """The canonical colour a colour word the lexicon does not translate names when that is not the word itself
    ("черная" → black, "olive" → green), so BM25 meets the catalog's English colour name; "black" stays."""
    colour = _colour_lexicon(word)
    return colour if colour != word else None


def colour_of(word: str) -> str | None:
    """The canonical colour one folded word names through this lexicon or the colour lexicon (None when it names
    none, or when the lexicon reads it as something else)."""
    e = word_english(word)
    if e:
        return e if e in CANONICAL else None
    return _colour_lexicon(word)


def _modifier(word: str) -> str | None:
    """A colour modifier's own colour ("" for a shade word), or None when the word is no modifier."""
    own = COLOUR_MODIFIERS.get(word)
    if own is not None or word.isascii() or word_english(word):  # "бананка" is a bag, not "банан" + "ка"
        return own
    for n in range(len(word), max(len(word) - 3, 1), -1):  # a Russian colour noun with up to two letters after
        own = RU_COLOUR_NOUNS.get(word[:n])
        if own:
            return own
    return None


def _idiom(ws: list[str], j: int) -> str | None:
    """The colour of a two-word colour idiom at `j` ("морской волны", "gül kurusu"), or None."""
    if j + 1 >= len(ws):
        return None
    return next((c for st, c in COLOUR_IDIOMS.items() if _phrase_key(ws[j], ws[j + 1], st)), None)


def _colour_run(ws: list[str], i: int) -> tuple[int, str] | None:
    """(words, colour) of a colour expression of two words or more at `i`: modifiers and "colour" words, then
    a colour word (or idiom) with any words naming the same colour after it, then a "colour" word; or, with no
    colour word, the last modifier's own colour when a shade word before it or a "colour" word comes with it
    ("koyu kahve", "kahve rengi"; not "wine bottle")."""
    j, framed, shade, own, shaded = i, False, False, "", False
    while j < len(ws) and j - i < MAX_MODIFIERS and _idiom(ws, j) is None:
        if ws[j] in COLOUR_FRAMES:
            framed = True
        else:
            m = _modifier(ws[j])
            if m is None:
                break
            if m:
                own, shaded = m, shade
            shade = shade or not m
        j += 1
    colour = _idiom(ws, j)
    j += 2 if colour else 0
    if colour is None and j < len(ws):
        colour = colour_of(ws[j])
        if colour:
            j += 1
            while j < len(ws) and j - i < 2 * MAX_MODIFIERS and colour_of(ws[j]) == colour:
                j += 1
    if colour is None and own and (framed or shaded or (j < len(ws) and ws[j] in COLOUR_FRAMES)):
        colour = own
    if colour is None:
        return None
    if j < len(ws) and ws[j] in COLOUR_FRAMES:
        j += 1
    return (j - i, colour) if j - i >= 2 else None


# ---- the query -------------------------------------------------------------------------------------------
def _phrase_key(a: str, b: str, stems: tuple[str, str]) -> bool:
    return a.startswith(stems[0]) and b.startswith(stems[1]) and len(a) - len(stems[0]) <= 3 \
        and len(b) - len(stems[1]) <= 4


def _phrase_at(ws: list[str], i: int) -> tuple[int, str] | None:
    """(words, catalog words) of the phrase at `i`: a two-word name (Russian also "X для Y"), else a colour
    expression."""
    for gap in (1, 2):
        if i + gap < len(ws) and (gap == 1 or ws[i + 1] == "для"):
            hit = next((e for st, e in PHRASES.items() if _phrase_key(ws[i], ws[i + gap], st)), None)
            if hit:
                return gap + 1, hit
    return _colour_run(ws, i)


def translate(text: str) -> Translation:
    """Each folded word of `text` (one-letter words only as part of a phrase) with the catalog words it stands
    for; phrases first."""
    ws = re.findall(r"[^\W_]+", fold((text or "")[:MAX_CHARS]))[:MAX_WORDS]
    out: list[str] = [""] * len(ws)
    joined = [False] * len(ws)
    i = 0
    while i < len(ws):
        phrase = _phrase_at(ws, i)
        if phrase:
            size, english = phrase
            out[i:i + size] = [english] * size
            joined[i + 1:i + size] = [True] * (size - 1)
            i += size
            continue
        out[i] = word_english(ws[i]) or colour_english(ws[i]) or ""
        i += 1
    keep = [k for k in range(len(ws)) if len(ws[k]) > 1 or out[k]]
    return Translation(tuple(ws[k] for k in keep), tuple(out[k] for k in keep), tuple(joined[k] for k in keep))
