"""A shopper's words in Russian, Turkish and English mapped to the words an English catalog uses: garment and
category nouns with their word forms, gender words, colour words the catalog's colour lexicon
(engine.catalog.colours) does not list, and materials.

Why: product texts are English. A dense multilingual encoder bridges languages only loosely, and the lexical
(BM25) list cannot bridge them at all: "куртка" or "ceket" shares no term with "Jacket". Translating the known
words of a query gives BM25 English terms to match, gives the encoder the catalog's own words, and gives the
query parser (engine.search.parse) category and colour words it can read. Unknown words pass through unchanged,
so a brand, a model name or a word the lexicon lacks still reaches both lists.

Built from general shopper vocabulary (what a store's search box sees for clothes, bags, watches and fitness
gear), not from any judged query set.

Matching is on folded words (engine.search.tokens.fold: case, ё/е, Turkish dotted/dotless i, accents):
- English and other whole words: the word itself (a plural "s" dropped: "joggers" → "jogger");
- Russian: a stem followed by a noun or adjective ending (куртк|а|у|и|ой, женск|ая|ий|ие);
- Turkish: a stem followed by common suffixes (ceket|i|ler|leri, pantolon|lar, çanta|sı);
- phrases of two words first ("eşofman altı", "kol saati", "t shirt")."""
from __future__ import annotations

import re
from dataclasses import dataclass

from engine.catalog.colours import CANONICAL, find_colours
from engine.search.tokens import fold

MAX_WORDS = 64  # words of a query translated; later words are left out
MAX_CHARS = 2000  # characters of a query read (the service refuses longer queries; this bounds any other caller)

# ---- English: synonyms and word forms → the catalog's word -------------------------------------------------
_EN = {
    # garments and gear
    "windbreaker": "jacket", "windcheater": "jacket", "anorak": "jacket", "parka": "jacket", "coat": "jacket",
    "softshell": "jacket", "raincoat": "jacket", "blazer": "jacket",
    "hoody": "hoodie", "hoodie": "hoodie", "sweatshirt": "sweatshirt", "sweater": "sweatshirt",
    "jumper": "sweatshirt", "pullover": "hoodie", "crewneck": "sweatshirt", "fleece": "fleece",
    "tshirt": "tee", "tee": "tee",
    "tank": "tank", "singlet": "tank", "camisole": "tank", "cami": "tank",
    "bra": "bra", "bralette": "bra",
    "trousers": "pants", "trouser": "pants", "jogger": "pants", "joggers": "pants", "sweatpants": "pants",
    "sweatpant": "pants", "leggings": "pants", "legging": "pants", "tights": "pants", "capri": "pants",
    "capris": "pants", "slacks": "pants",
    "backpack": "backpack", "rucksack": "backpack", "knapsack": "backpack", "duffel": "duffle",
    "duffle": "duffle", "tote": "tote", "handbag": "bag", "purse": "bag", "satchel": "bag",
    "wristwatch": "watch", "smartwatch": "watch",
    "dumbbell": "dumbbell equipment", "kettlebell": "kettlebell equipment",
    # gender
    "womens": "women", "woman": "women", "ladies": "women", "lady": "women", "female": "women",
    "girls": "women", "mens": "men", "man": "men", "male": "men", "gents": "men", "guys": "men",
    # colours the catalog's colour lexicon leaves out
    "jet": "black", "onyx": "black", "ebony": "black", "coal": "black", "inky": "black", "blackish": "black",
    "snow": "white", "snowy": "white", "pearl": "white", "milky": "white", "offwhite": "white",
    "ash": "gray", "ashen": "gray", "slate": "gray", "smoke": "gray", "smoky": "gray", "heather": "gray",
    "greyish": "gray", "grayish": "gray", "stone": "gray", "pewter": "gray",
    "ruby": "red", "brick": "red", "cardinal": "red", "garnet": "red", "raspberry": "red", "tomato": "red",
    "sapphire": "blue", "cobalt": "blue", "royal": "blue", "denim": "blue", "aqua": "blue", "cerulean": "blue",
    "emerald": "green", "sage": "green", "forest": "green", "jade": "green", "moss": "green", "pine": "green",
    "tangerine": "orange", "pumpkin": "orange", "rust": "orange", "apricot": "orange", "amber": "orange",
    "mauve": "purple", "amethyst": "purple", "grape": "purple", "eggplant": "purple", "aubergine": "purple",
    "orchid": "purple",
    "canary": "yellow", "lemon": "yellow", "sunflower": "yellow", "sunshine": "yellow", "butter": "yellow",
    "cocoa": "brown", "mocha": "brown", "chestnut": "brown", "walnut": "brown", "espresso": "brown",
    "hazel": "brown",
    # materials
    "wool": "wool", "woolen": "wool", "woollen": "wool", "merino": "wool", "leather": "leather",
    "cotton": "cotton", "polyester": "polyester", "nylon": "nylon", "spandex": "spandex", "lycra": "spandex",
    "elastane": "spandex",
}

# ---- Russian: stems (folded: ё → е) taking noun or adjective endings ----------------------------------------
_RU = {
    "куртк": "jacket", "курточк": "jacket", "ветровк": "jacket windbreaker", "пуховик": "jacket",
    "пальт": "jacket", "анорак": "jacket", "жакет": "jacket", "парк": "jacket", "плащ": "jacket",
    "худи": "hoodie", "толстовк": "hoodie sweatshirt", "свитшот": "sweatshirt", "свитер": "sweatshirt",
    "кофт": "sweatshirt", "джемпер": "sweatshirt", "пуловер": "hoodie", "флис": "fleece",
    "футболк": "tee", "майк": "tank", "борцовк": "tank", "топ": "tank", "бра": "bra", "бюстгальтер": "bra",
    "лифчик": "bra", "брюк": "pants", "штан": "pants", "штанишк": "pants", "леггинс": "pants", "лосин": "pants",
    "джоггер": "pants", "шорт": "shorts", "шортик": "shorts",
    "сумк": "bag", "сумочк": "bag", "рюкзак": "backpack", "портфел": "bag", "час": "watch",
    "гантел": "dumbbell equipment", "гир": "kettlebell equipment", "мяч": "ball equipment",
    "коврик": "mat equipment",
    "женск": "women", "женщин": "women", "дамск": "women", "девушк": "women", "девушек": "women", "мужск": "men", "мужчин": "men",
    "парн": "men",
    # colours the catalog's colour lexicon leaves out
    "угольн": "black", "смолян": "black", "вороной": "black", "агатов": "black",
    "белоснежн": "white", "молочн": "white", "жемчужн": "white", "снежн": "white",
    "пепельн": "gray", "дымчат": "gray", "стальн": "gray", "мышин": "gray", "асфальтов": "gray",
    "рубинов": "red", "кирпичн": "red", "вишнев": "red", "гранатов": "red", "винн": "red", "пунцов": "red",
    "сапфиров": "blue", "васильков": "blue", "джинсов": "blue", "небесн": "blue", "кобальтов": "blue",
    "малахитов": "green", "травян": "green", "изумруд": "green", "хвойн": "green", "мятн": "green",
    "апельсинов": "orange", "мандаринов": "orange", "морковн": "orange", "тыквенн": "orange",
    "аметистов": "purple", "баклажан": "purple", "баклажанов": "purple", "сливов": "purple", "виноградн": "purple",
    "канареечн": "yellow", "лимонн": "yellow", "песочн": "beige",
    "каштанов": "brown", "орехов": "brown", "шоколадн": "brown", "кофейн": "brown",
    # materials
    "хлопк": "cotton", "хлопок": "cotton", "хлопков": "cotton", "шерст": "wool", "шерстян": "wool",
    "кож": "leather", "кожан": "leather", "полиэстер": "polyester", "нейлон": "nylon",
    "непромокаем": "waterproof", "водонепроницаем": "waterproof",
}
# Noun and adjective endings after a Russian stem (the empty ending: the stem is the word).
_RU_ENDINGS = frozenset({
    "", "а", "у", "и", "е", "ы", "ой", "ей", "ам", "ям", "ами", "ями", "ах", "ях", "ов", "ев", "ом", "ем", "ю",
    "ый", "ий", "ая", "яя", "ое", "ее", "ые", "ие", "ого", "его", "ому", "ему", "ым", "им", "ую", "юю", "ых",
    "их", "ыми", "ими", "ки", "ка", "ку", "кой",
})
# Stems that are also the start of unrelated words when short ("час" → "часть", "топ" → "топор"): these take
# only the endings of their own paradigm.
_RU_EXACT = {"гир": {"я", "и", "ю", "ей", "ями"}, "мяч": {"", "и", "а", "ом", "ей"}, "час": {"ы", "ов", "ам", "ами", "ах"}, "топ": {"", "ы", "а", "ом", "ов", "ик"},
             "бра": {""}, "парк": {"а", "и", "у", "ой"}, "парн": {"ей", "я", "ю", "ям"},
             "кож": {"а", "и", "у", "ей", "ой", "аный", "аная", "аные", "аное"},
             "винн": {"ый", "ая", "ое", "ые", "ого", "ую"}}

# ---- Turkish: stems (folded to ASCII) taking suffixes --------------------------------------------------------
_TR = {
    "ceket": "jacket", "mont": "jacket", "ruzgarlik": "jacket windbreaker", "kaban": "jacket",
    "yagmurluk": "jacket", "parka": "jacket", "palto": "jacket",
    "kapusonlu": "hoodie", "kapson": "hoodie", "hirka": "sweatshirt", "kazak": "sweatshirt",
    "sweatshirt": "sweatshirt", "sweat": "sweatshirt", "polar": "fleece",
    "tisort": "tee", "tshirt": "tee", "atlet": "tank", "fanila": "tank", "badi": "tank", "bluz": "tee",
    "sutyen": "bra", "bustiyer": "bra", "pantolon": "pants", "esofman": "pants", "tayt": "pants",
    "jogger": "pants", "sort": "shorts", "canta": "bag", "sirt cantasi": "backpack",
    "kol saati": "watch", "saat": "watch",
    "kadin": "women", "bayan": "women", "kiz": "women", "erkek": "men", "bay": "men",
    # colours the catalog's colour lexicon leaves out
    "kara": "black", "simsiyah": "black", "kapkara": "black", "beyaz": "white", "bembeyaz": "white",
    "kul rengi": "gray", "fume": "gray", "duman": "gray", "kizil": "red", "kipkirmizi": "red",
    "nar": "red", "visne": "red", "masmavi": "blue", "kobalt": "blue", "indigo": "blue",
    "zumrut": "green", "yemyesil": "green", "cimen": "green", "nane": "green", "zeytin": "green",
    "mandalina": "orange", "oranj": "orange", "kavuniçi": "orange", "kavunici": "orange",
    "mosmor": "purple", "leylak": "purple", "menekse": "purple", "patlican": "purple", "erik": "purple",
    "sapsari": "yellow", "kanarya": "yellow", "limon": "yellow",
    "kahve rengi": "brown", "kestane": "brown", "ceviz": "brown", "cikolata": "brown",
    # materials
    "pamuk": "cotton", "pamuklu": "cotton", "yun": "wool", "yunlu": "wool", "deri": "leather",
    "polyester": "polyester", "naylon": "nylon", "su gecirmez": "waterproof",
}
# Plural, possessive, case and "with" suffixes, in their usual order (ceket|ler|i|ni, çanta|sı|nda, pamuk|lu).
_TR_SUFFIX = re.compile(r"(?:l[ae]r)?(?:[iu]|s[iu]|y[iu])?(?:n[iu]n|[iu]n|n?[dt][ae]n?|n?[iu]|y?[ae]|l[iu])?")
_TR_EXACT = {"bay": "", "kiz": "", "nar": "", "erik": "", "limon": "", "saat": "(?:i|ler|leri)?",
             "duman": "(?:i)?", "sort": "(?:u|lar|lari)?", "mont": "(?:u|lar|lari)?",
             "sweat": "", "kara": ""}

# Phrases first: a shopper's two-word names.
_PHRASES = {
    ("t", "shirt"): "tee", ("t", "shirts"): "tee", ("tank", "top"): "tank", ("sports", "bra"): "bra",
    ("sport", "bra"): "bra", ("rain", "jacket"): "jacket", ("shell", "jacket"): "jacket",
    ("rain", "shell"): "jacket", ("stability", "ball"): "ball equipment", ("yoga", "mat"): "mat equipment",
    ("exercise", "ball"): "ball equipment", ("foam", "roller"): "roller equipment",
    ("спортивн", "топ"): "bra", ("спортивн", "штан"): "pants", ("спортивн", "брюк"): "pants",
    ("наручн", "час"): "watch",
    ("spor", "sutyen"): "bra", ("esofman", "alt"): "pants", ("sirt", "canta"): "backpack",
    ("kol", "saat"): "watch", ("kul", "reng"): "gray", ("kahve", "reng"): "brown",
    ("kestane", "reng"): "brown", ("mandalina", "reng"): "orange", ("su", "gecirmez"): "waterproof",
}


@dataclass(frozen=True)
class Translation:
    """A query's folded words, each with the catalog words it stands for ("" when the lexicon does not know it).
    The second word of a two-word phrase carries the phrase's words too and is marked `joined`."""

    words: tuple[str, ...]
    english: tuple[str, ...]
    joined: tuple[bool, ...]

    @property
    def text(self) -> str:
        """The query in the catalog's words: known words translated, unknown words as they were."""
        return " ".join(e or w for w, e, j in zip(self.words, self.english, self.joined) if not j)

    def without(self, drop: set[str]) -> Translation:
        """The translation less the words in `drop` (a chip taken off); a phrase goes with either word."""
        keep = [True] * len(self.words)
        for i, w in enumerate(self.words):
            if w in drop:
                keep[i] = False
                if self.joined[i] and i:
                    keep[i - 1] = False
                if i + 1 < len(self.words) and self.joined[i + 1]:
                    keep[i + 1] = False
        idx = [i for i, k in enumerate(keep) if k]
        return Translation(tuple(self.words[i] for i in idx), tuple(self.english[i] for i in idx),
                           tuple(self.joined[i] for i in idx))

    @property
    def original(self) -> str:
        return " ".join(self.words)


def _ru(word: str) -> str | None:
    for n in range(len(word), 1, -1):
        stem = word[:n]
        target = _RU.get(stem)
        if target is None:
            continue
        ending = word[n:]
        allowed = _RU_EXACT.get(stem)
        if (ending in allowed) if allowed is not None else ending in _RU_ENDINGS:
            return target
    return None


def _tr(word: str) -> str | None:
    for n in range(len(word), 2, -1):
        stem = word[:n]
        target = _TR.get(stem)
        if target is None:
            continue
        suffix = _TR_EXACT.get(stem)
        if re.fullmatch(suffix, word[n:]) if suffix is not None else _TR_SUFFIX.fullmatch(word, n):
            return target
    return None


def _en(word: str) -> str | None:
    hit = _EN.get(word)
    if hit is None and len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        hit = _EN.get(word[:-1])
    return hit


def word_english(word: str) -> str | None:
    """The catalog words one folded word stands for, or None."""
    if not word:
        return None
    if word.isascii():
        return _en(word) or _tr(word)
    return _ru(word) or _tr(word)


def _phrase_key(a: str, b: str, stems: tuple[str, str]) -> bool:
    return a.startswith(stems[0]) and b.startswith(stems[1]) and len(a) - len(stems[0]) <= 3 \
        and len(b) - len(stems[1]) <= 4


def translate(text: str) -> Translation:
    """Each folded word of `text` (one-letter words only as part of a phrase) with the catalog words it stands
    for; phrases of two words first."""
    ws = re.findall(r"[^\W_]+", fold((text or "")[:MAX_CHARS]))[:MAX_WORDS]
    out: list[str] = [""] * len(ws)
    joined = [False] * len(ws)
    i = 0
    while i < len(ws):
        if i + 1 < len(ws):
            hit = next((e for st, e in _PHRASES.items() if _phrase_key(ws[i], ws[i + 1], st)), None)
            if hit:
                out[i] = out[i + 1] = hit
                joined[i + 1] = True
                i += 2
                continue
        out[i] = word_english(ws[i]) or colour_english(ws[i]) or ""
        i += 1
    keep = [k for k in range(len(ws)) if len(ws[k]) > 1 or out[k]]
    return Translation(tuple(ws[k] for k in keep), tuple(out[k] for k in keep), tuple(joined[k] for k in keep))


def colour_english(word: str) -> str | None:
    """The canonical colour a non-English colour word of the catalog's colour lexicon names ("черная" → black),
    so BM25 meets the catalog's English colour name; English colour words stay as they are."""
    found = find_colours(word)
    if found and found[0].colour != word:
        return found[0].colour
    return None


def colour_of(word: str) -> str | None:
    """The canonical colour one folded word names through this lexicon (None when it names none)."""
    e = word_english(word)
    return e if e in CANONICAL else None
