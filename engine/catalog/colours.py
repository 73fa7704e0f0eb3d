"""Colour names in Russian, Turkish and English mapped to one canonical English name.

Marketplace feeds rarely carry a clean colour attribute, yet the colour filter and the "same style, other
colour" logic need one. Titles and descriptions do name the colour, in the shop's language and inflected
("красная", "чёрного", "kırmızılı", "SİYAH"), so words are matched on a folded form (case, ё/е and the
Turkish dotted/dotless i made equal, Turkish letters reduced to ASCII) against whole words, Russian
adjective stems with their endings, and Turkish stems with their common suffixes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

CANONICAL: tuple[str, ...] = ("black", "white", "gray", "silver", "red", "pink", "orange", "yellow", "gold",
                              "beige", "brown", "green", "blue", "purple")

# Whole words (any language). Strong words are colour names in every context; weak ones are also common
# non-colour words ("olive oil", "mint condition") and are trusted only in titles and explicit attributes.
_STRONG: dict[str, str] = {
    # English
    "black": "black", "white": "white", "gray": "gray", "grey": "gray", "charcoal": "gray",
    "graphite": "gray", "anthracite": "gray", "silver": "silver", "silvery": "silver",
    "red": "red", "reddish": "red", "burgundy": "red", "maroon": "red", "crimson": "red", "scarlet": "red",
    "pink": "pink", "pinkish": "pink", "fuchsia": "pink", "magenta": "pink",
    "orange": "orange", "orangish": "orange", "yellow": "yellow", "yellowish": "yellow", "mustard": "yellow",
    "gold": "gold", "golden": "gold", "beige": "beige", "khaki": "beige", "ivory": "white",
    "brown": "brown", "brownish": "brown", "green": "green", "greenish": "green",
    "blue": "blue", "bluish": "blue", "navy": "blue", "turquoise": "blue", "teal": "blue", "cyan": "blue",
    "indigo": "blue", "azure": "blue",
    "purple": "purple", "purplish": "purple", "violet": "purple", "lavender": "purple", "lilac": "purple",
    # Russian indeclinable colour nouns
    "хаки": "green", "беж": "beige", "бордо": "red", "фуксия": "pink", "фуксии": "pink",
    "индиго": "blue", "марсала": "red",
    # Turkish words that take no suffix matching (altın + "da" would read "altında", "under")
    "altin": "gold",
}
_WEAK: dict[str, str] = {
    "tan": "brown", "camel": "brown", "chocolate": "brown", "coffee": "brown", "cream": "beige",
    "sand": "beige", "nude": "beige", "olive": "green", "mint": "green", "lime": "green", "coral": "orange",
    "peach": "orange", "rose": "pink", "plum": "purple", "wine": "red", "cherry": "red",
    "krem": "beige", "ekru": "beige",
}

# Russian adjective stems (folded: ё → е); matched only with an adjective ending after them, so "белый"
# matches but "бельё" and "белок" do not.
_RU_STEMS: dict[str, str] = {
    "черн": "black", "бел": "white", "сер": "gray", "графитов": "gray", "антрацитов": "gray",
    "серебрист": "silver", "серебрян": "silver",
    "красн": "red", "бордов": "red", "ал": "red", "малинов": "red",
    "розов": "pink", "оранжев": "orange", "рыж": "orange", "терракотов": "orange",
    "желт": "yellow", "горчичн": "yellow", "золот": "gold", "золотист": "gold",
    "бежев": "beige", "кремов": "beige", "песочн": "beige", "коричнев": "brown",
    "зелен": "green", "оливков": "green", "салатов": "green", "изумрудн": "green",
    "син": "blue", "голуб": "blue", "бирюзов": "blue", "лазурн": "blue",
    "фиолетов": "purple", "сиренев": "purple", "лилов": "purple", "лавандов": "purple",
}
# Stems that also name flavours and materials ("кофейный столик", "мятный чай"): titles only.
_RU_WEAK_STEMS: dict[str, str] = {
    "вишнев": "red", "персиков": "orange", "лимонн": "yellow", "молочн": "white", "шоколадн": "brown",
    "кофейн": "brown", "мятн": "green",
}
_RU_ENDINGS = frozenset({
    "ый", "ий", "ой", "ая", "яя", "ое", "ее", "ые", "ие", "ого", "его", "ому", "ему", "ым", "им", "ом", "ем",
    "ую", "юю", "ых", "их", "ыми", "ими", "ей", "а", "о", "е", "ы",
})
# The shortest stems collide with unrelated words when a one-letter ending follows ("ало", "сера" is
# sulphur, "рыжа"): they require a full adjective ending.
_RU_SHORT_STEM_MIN_ENDING = {"ал": 2, "сер": 2, "рыж": 2}

# Turkish stems (folded), followed by nothing or one common suffix: kırmızı, kırmızılı, mavisi, grimsi.
_TR_STEMS: dict[str, str] = {
    "siyah": "black", "beyaz": "white", "gri": "gray", "fume": "gray", "antrasit": "gray",
    "gumus": "silver", "kirmizi": "red", "bordo": "red", "pembe": "pink", "fusya": "pink",
    "turuncu": "orange", "sari": "yellow", "hardal": "yellow", "bej": "beige",
    "kahverengi": "brown", "taba": "brown", "yesil": "green", "haki": "green", "mavi": "blue",
    "lacivert": "blue", "turkuaz": "blue", "mor": "purple", "lila": "purple", "eflatun": "purple",
}
# A bare dative "-a/-e" is left out on purpose: "mor" + "e" would read the English "more" as purple.
_TR_SUFFIX = re.compile(r"(?:[iu]|s[iu]|l[iu]|y[ae]|[dt][ae]n?|n?[iu]n|l[ae]r(?:[iu])?|[iu]?ms[iu])?")

_FOLD = str.maketrans({"ё": "е", "ı": "i", "ş": "s", "ğ": "g", "ç": "c", "ö": "o", "ü": "u", "â": "a",
                       "î": "i", "û": "u", "\u0307": None})
_WORD = re.compile(r"[^\W\d_]+")


def fold(text: str) -> str:
    """Case- and script-insensitive form: "SİYAH", "siyah" and "Sıyah" all fold to "siyah", "Чёрный" to "черный"."""
    return text.casefold().translate(_FOLD)


@dataclass(frozen=True)
class ColourMatch:
    colour: str
    word: str  # the folded word that named it
    position: int  # character offset in the text


def _word_colour(word: str, weak: bool) -> str | None:
    hit = _STRONG.get(word) or (_WEAK.get(word) if weak else None)
    if hit:
        return hit
    for stem, colour in (_RU_STEMS | _RU_WEAK_STEMS).items() if weak else _RU_STEMS.items():
        if word.startswith(stem):
            ending = word[len(stem):]
            if ending in _RU_ENDINGS and len(ending) >= _RU_SHORT_STEM_MIN_ENDING.get(stem, 1):
                return colour
    for stem, colour in _TR_STEMS.items():
        if word.startswith(stem) and _TR_SUFFIX.fullmatch(word, len(stem)):
            return colour
    return None


def find_colours(text: str, weak: bool = False) -> list[ColourMatch]:
    """Every colour word in `text`, in reading order (weak words only when `weak`)."""
    folded = fold(text or "")
    out: list[ColourMatch] = []
    for m in _WORD.finditer(folded):
        colour = _word_colour(m.group(), weak)
        if colour:
            out.append(ColourMatch(colour, m.group(), m.start()))
    return out


def detect_colour(title: str, description: str = "") -> str | None:
    """The product's colour from its words: the first colour named in the title, else in the description.

    The title is the seller's own short label, so it outranks a description that may mention other
    colours ("pairs well with black jeans"); weak words are not trusted in descriptions.
    """
    for text, weak in ((title, True), (description, False)):
        found = find_colours(text, weak)
        if found:
            return found[0].colour
    return None


def normalise_colour(value: str | None) -> str | None:
    """Canonical name for an explicit colour attribute ("Gray", "Чёрный", "Lacivert", "Dark Blue"), or None."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    whole = fold(text)
    if whole in CANONICAL:
        return whole
    found = find_colours(text, weak=True)
    return found[0].colour if found else None
