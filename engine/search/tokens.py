"""One tokenizer for product text and queries in Russian, Turkish and English, used for the lexical vectors of
both stores (engine.search.sparse) and for the query parser, so a word is cut the same way wherever it is read.

Folding: engine.catalog.colours.fold (case, ё/е, the Turkish dotted İ/i and dotless ı/I, Turkish letters to
ASCII), then accents dropped (é → e). Words are runs of letters and digits; an apostrophe ends a word, so
"women's" gives "women" and Turkish "Nike'ın" gives "nike". One-letter words are dropped.

Stemming is a prefix: the first STEM_CHARS letters of a word, after an English plural "s" is dropped from a
Latin word. Inflection in all three languages mostly changes the end of a word (куртка / куртку / куртки,
ceket / ceketi / ceketler, jacket / jackets), and a prefix needs no language detection (a query in Turkish may
search a catalog in English) and no dependency. A word and its stem are separate terms: an exact word scores
above a word that only shares its stem."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from engine.catalog.colours import fold as fold_colour

STEM_CHARS = 5
MIN_STEM_WORD = 4  # shorter words are their own stem and get no stem term ("tee" stays "tee")
SKU_PREFIX = "sku:"
STEM_PREFIX = "~"
_WORD = re.compile(r"[^\W_]+")
_LATIN = re.compile(r"[a-z]+")


def fold(text: str) -> str:
    """Case-, script- and accent-insensitive form: "SİYAH" → "siyah", "Чёрная" → "черная", "Café" → "cafe"."""
    folded = fold_colour(text or "")
    if folded.isascii():
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)
                                                or c in "\u0306"))  # keep й (и + breve) a letter of its own


def words(text: str) -> list[str]:
    """The folded words of `text`, in order (one-letter words left out)."""
    return [w for w in _WORD.findall(fold(text)) if len(w) > 1]


def stem(word: str) -> str:
    """The prefix stem of a folded word."""
    if _LATIN.fullmatch(word) and len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:STEM_CHARS]


@dataclass(frozen=True)
class Term:
    text: str  # the term as hashed: a word, "~" + a stem, or "sku:" + a folded sku
    kind: str  # word | stem | sku


def terms(text: str) -> list[Term]:
    """A word term for every word and a stem term for every word long enough to have one, in order."""
    out = []
    for w in words(text):
        out.append(Term(w, "word"))
        if len(w) >= MIN_STEM_WORD:
            out.append(Term(STEM_PREFIX + stem(w), "stem"))
    return out


def sku_term(sku: str) -> Term | None:
    """The whole sku as one term (folded, inner spaces removed), so an exact sku query finds its product."""
    key = "".join(fold(sku or "").split())
    return Term(SKU_PREFIX + key, "sku") if key else None


def looks_like_sku(chunk: str) -> bool:
    """A query chunk that may be a sku: letters and digits mixed, or joined by - _ . / (MH01-XS-Black, 24-MB01)."""
    chunk = chunk.strip()
    return bool(chunk) and " " not in chunk and (any(c.isdigit() for c in chunk) or any(c in "-_./" for c in chunk))
