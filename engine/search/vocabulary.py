"""The query lexicon's vocabulary (engine.search.lexicon holds the matching): a small shop dictionary from the
words a shopper of clothes, bags, watches and fitness gear types in Russian, Turkish and English to the words
of an English catalog. Written from general shopper vocabulary (garment and gear names with their colloquial
and loan words, colour names and idioms, gender words), not from any judged query set.

Every key is folded (engine.search.tokens.fold: lower case, ё → е, Turkish letters and accents to ASCII).
A value is the catalog words the key stands for; gear also names its category's word ("equipment") and bag
kinds name "bag", so the query parser reads the category from a word the catalog's titles do not share.

- EN: whole English words (a plural "s" is dropped when the word itself is missing).
- RU: Russian stems followed by a noun or adjective ending; RU_EXACT: short stems that take only the endings
  listed (an unrelated word starts the same: "мат" / "матрас", "поло" / "полоса").
- TR: Turkish stems followed by the common suffixes; TR_EXACT: stems with their own suffix pattern.
- PHRASES: two-word names as (stem, stem); a Russian "для" between them is read too ("коврик для йоги").
- Colour expressions (COLOUR_MODIFIERS, RU_COLOUR_NOUNS, COLOUR_FRAMES, COLOUR_IDIOMS): see the comments there.
"""
from __future__ import annotations

# ---- English -------------------------------------------------------------------------------------------------
EN: dict[str, str] = {
    # jackets and other outerwear
    "windbreaker": "jacket", "windcheater": "jacket", "anorak": "jacket", "parka": "jacket", "coat": "jacket",
    "softshell": "jacket", "raincoat": "jacket", "blazer": "jacket", "overcoat": "jacket", "trenchcoat": "jacket",
    "trench": "jacket", "puffer": "jacket", "peacoat": "jacket", "bomber": "jacket", "gilet": "jacket",
    "bodywarmer": "jacket", "cagoule": "jacket", "mackintosh": "jacket", "outerwear": "jacket",
    # hoodies and sweatshirts
    "hoody": "hoodie", "hoodie": "hoodie", "sweatshirt": "sweatshirt", "sweater": "sweatshirt",
    "jumper": "sweatshirt", "pullover": "hoodie", "crewneck": "sweatshirt", "fleece": "fleece",
    "cardigan": "sweatshirt",
    # tees, tanks, bras
    "tshirt": "tee", "tee": "tee", "teeshirt": "tee", "polo": "tee", "longsleeve": "tee", "henley": "tee",
    "tank": "tank", "singlet": "tank", "camisole": "tank", "cami": "tank", "tanktop": "tank", "croptop": "tank",
    "racerback": "tank",
    "bra": "bra", "bralette": "bra", "sportsbra": "bra", "brassiere": "bra",
    # pants and shorts
    "trousers": "pants", "trouser": "pants", "jogger": "pants", "joggers": "pants", "sweatpants": "pants",
    "sweatpant": "pants", "leggings": "pants", "legging": "pants", "leggins": "pants", "jeggings": "pants",
    "tights": "pants", "capri": "pants", "capris": "pants", "slacks": "pants", "trackpants": "pants",
    "trackie": "pants", "chino": "pants", "jeans": "pants", "culotte": "pants",
    "bermuda": "shorts", "boardshort": "shorts",
    # bags
    "backpack": "backpack bag", "rucksack": "backpack bag", "knapsack": "backpack bag", "daypack": "backpack bag",
    "bookbag": "backpack bag", "schoolbag": "backpack bag", "duffel": "duffle bag", "duffle": "duffle bag",
    "holdall": "duffle bag", "weekender": "duffle bag", "tote": "tote bag", "messenger": "messenger bag",
    "handbag": "bag", "purse": "bag", "satchel": "bag", "crossbody": "bag", "fannypack": "bag", "bumbag": "bag",
    "briefcase": "bag", "gymbag": "bag", "luggage": "luggage bag", "suitcase": "luggage bag",
    # watches
    "wristwatch": "watch", "smartwatch": "watch", "timepiece": "watch", "chronograph": "watch",
    # fitness equipment
    "dumbbell": "dumbbell equipment", "dumbell": "dumbbell equipment", "kettlebell": "kettlebell equipment",
    "barbell": "barbell equipment", "mat": "mat equipment", "yogamat": "yoga mat equipment",
    "ball": "ball equipment", "fitball": "ball equipment", "swissball": "ball equipment",
    "gymball": "ball equipment", "foamroller": "foam roller equipment", "jumprope": "jump rope equipment",
    "bottle": "bottle equipment", "waterbottle": "water bottle equipment", "flask": "bottle equipment",
    "theraband": "band equipment", "stepper": "stepper equipment",
    # gender ("her", "him" and "unisex" name none: Turkish "her" is "every")
    "womens": "women", "woman": "women", "womans": "women", "ladies": "women", "lady": "women",
    "female": "women", "girls": "women", "womenswear": "women", "ladieswear": "women", "wmns": "women",
    "mens": "men", "man": "men", "male": "men", "gents": "men", "gent": "men", "guys": "men",
    "gentleman": "men", "gentlemen": "men", "menswear": "men",
    # colours the catalog's colour lexicon leaves out
    "jet": "black", "onyx": "black", "ebony": "black", "coal": "black", "inky": "black", "blackish": "black",
    "noir": "black", "obsidian": "black",
    "snow": "white", "snowy": "white", "pearl": "white", "milky": "white", "offwhite": "white",
    "alabaster": "white", "eggshell": "white", "whitish": "white",
    "ash": "gray", "ashen": "gray", "slate": "gray", "smoke": "gray", "smoky": "gray", "heather": "gray",
    "greyish": "gray", "grayish": "gray", "stone": "gray", "pewter": "gray", "gunmetal": "gray",
    "platinum": "silver", "chrome": "silver",
    "ruby": "red", "brick": "red", "cardinal": "red", "garnet": "red", "raspberry": "red", "tomato": "red",
    "claret": "red", "oxblood": "red", "bordeaux": "red", "vermilion": "red", "vermillion": "red",
    "carmine": "red", "merlot": "red", "cranberry": "red", "marsala": "red", "redish": "red",
    "blush": "pink", "rosy": "pink", "bubblegum": "pink", "flamingo": "pink", "hotpink": "pink",
    "tangerine": "orange", "pumpkin": "orange", "rust": "orange", "apricot": "orange", "amber": "orange",
    "terracotta": "orange",
    "canary": "yellow", "lemon": "yellow", "sunflower": "yellow", "sunshine": "yellow", "butter": "yellow",
    "buttercup": "yellow", "daffodil": "yellow",
    "ecru": "beige", "oatmeal": "beige",
    "cocoa": "brown", "mocha": "brown", "chestnut": "brown", "walnut": "brown", "espresso": "brown",
    "hazel": "brown", "cinnamon": "brown", "caramel": "brown", "cognac": "brown", "mahogany": "brown",
    "umber": "brown", "sepia": "brown", "toffee": "brown",
    "emerald": "green", "sage": "green", "forest": "green", "jade": "green", "moss": "green", "pine": "green",
    "seafoam": "green", "pistachio": "green", "avocado": "green", "chartreuse": "green",
    "sapphire": "blue", "cobalt": "blue", "royal": "blue", "denim": "blue", "aqua": "blue", "cerulean": "blue",
    "ultramarine": "blue", "aquamarine": "blue", "navyblue": "blue", "blueish": "blue", "midnight": "blue",
    "mauve": "purple", "amethyst": "purple", "grape": "purple", "eggplant": "purple", "aubergine": "purple",
    "orchid": "purple", "mulberry": "purple", "lavendar": "purple",
    # materials
    "wool": "wool", "woolen": "wool", "woollen": "wool", "merino": "wool", "leather": "leather",
    "cotton": "cotton", "polyester": "polyester", "nylon": "nylon", "spandex": "spandex", "lycra": "spandex",
    "elastane": "spandex",
}

# ---- Russian -------------------------------------------------------------------------------------------------
RU: dict[str, str] = {
    # jackets and other outerwear
    "куртк": "jacket", "курточк": "jacket", "курток": "jacket", "ветровк": "jacket windbreaker",
    "ветровочк": "jacket windbreaker", "ветровок": "jacket windbreaker", "штормовк": "jacket windbreaker",
    "пуховик": "jacket", "пуховичк": "jacket", "пуховичок": "jacket", "пальт": "jacket", "анорак": "jacket",
    "жакет": "jacket",
    "парк": "jacket", "плащ": "jacket", "дождевик": "jacket", "тренч": "jacket", "тренчкот": "jacket",
    "бомбер": "jacket", "пиджак": "jacket", "жилет": "jacket", "жилетк": "jacket", "косух": "jacket",
    "олимпийк": "jacket", "софтшелл": "jacket", "бушлат": "jacket",
    # hoodies and sweatshirts
    "худи": "hoodie", "толстовк": "hoodie sweatshirt", "толстовочк": "hoodie sweatshirt",
    "толстовок": "hoodie sweatshirt", "свитшот": "sweatshirt", "свитер": "sweatshirt", "свитерок": "sweatshirt",
    "свитерк": "sweatshirt", "кофт": "sweatshirt", "кофточк": "sweatshirt", "джемпер": "sweatshirt",
    "пуловер": "hoodie", "кардиган": "sweatshirt", "флис": "fleece", "флисов": "fleece",
    # tees, tanks, bras
    "футболк": "tee", "футболочк": "tee", "футболок": "tee", "тишк": "tee", "лонгслив": "tee", "поло": "tee",
    "майк": "tank", "маек": "tank", "борцовк": "tank", "алкоголичк": "tank", "топ": "tank", "топик": "tank",
    "кроптоп": "tank",
    "бра": "bra", "бюстгальтер": "bra", "лифчик": "bra", "бюстье": "bra",
    # pants and shorts
    "брюк": "pants", "брючк": "pants", "штан": "pants", "штанишк": "pants", "леггинс": "pants", "легинс": "pants",
    "лосин": "pants", "джоггер": "pants", "джогер": "pants", "капри": "pants", "бридж": "pants", "тайтс": "pants",
    "спортивк": "pants", "треник": "pants", "джинс": "pants", "шаровар": "pants", "кюлот": "pants",
    "чинос": "pants",
    "шорт": "shorts", "шортик": "shorts", "бермуд": "shorts", "велосипедк": "shorts",
    # bags
    "сумк": "bag", "сумочк": "bag", "сумок": "bag", "рюкзак": "backpack bag", "рюкзачок": "backpack bag",
    "рюкзачк": "backpack bag", "ранец": "backpack bag", "ранц": "backpack bag", "портфел": "bag",
    "баул": "duffle bag", "саквояж": "bag", "шопер": "tote bag", "шоппер": "tote bag", "тоут": "tote bag",
    "барсетк": "bag", "бананк": "bag", "клатч": "bag", "торб": "bag", "чемодан": "luggage bag",
    # watches
    "час": "watch", "часик": "watch", "хронограф": "watch",
    # fitness equipment
    "гантел": "dumbbell equipment", "гантельк": "dumbbell equipment", "гир": "kettlebell equipment",
    "гирьк": "kettlebell equipment", "штанг": "barbell equipment", "мяч": "ball equipment",
    "фитбол": "ball equipment", "медбол": "ball equipment", "коврик": "mat equipment", "мат": "mat equipment",
    "йогамат": "yoga mat equipment", "каремат": "mat equipment", "роллер": "roller equipment",
    "эспандер": "band equipment", "скакалк": "jump rope equipment", "бутылк": "bottle equipment",
    "бутылочк": "bottle equipment", "фляг": "bottle equipment", "фляжк": "bottle equipment",
    "степ": "step equipment", "степпер": "stepper equipment", "упор": "pushup grips equipment",
    "тренажер": "equipment", "инвентар": "equipment",
    # what the gear is for
    "йог": "yoga", "пилатес": "pilates", "фитнес": "fitness", "бег": "running", "бегов": "running",
    "спорт": "sport", "спортивн": "sport", "тренировк": "workout", "тренировок": "workout",
    "тренировочн": "workout",
    # gender
    "женск": "women", "женщин": "women", "дамск": "women", "девушк": "women", "девушек": "women", "жен": "women",
    "дам": "women", "леди": "women",
    "мужск": "men", "мужчин": "men", "парн": "men", "муж": "men", "мужик": "men", "джентльмен": "men",
    # colours the catalog's colour lexicon leaves out
    "угольн": "black", "смолян": "black", "вороной": "black", "агатов": "black",
    "белоснежн": "white", "молочн": "white", "жемчужн": "white", "снежн": "white", "айвори": "white",
    "пепельн": "gray", "дымчат": "gray", "стальн": "gray", "мышин": "gray", "асфальтов": "gray",
    "свинцов": "gray", "сероват": "gray", "маренго": "gray", "графит": "gray", "антрацит": "gray",
    "платинов": "silver", "металлик": "silver",
    "рубинов": "red", "кирпичн": "red", "вишнев": "red", "гранатов": "red", "винн": "red", "пунцов": "red",
    "багров": "red", "багрян": "red", "клюквенн": "red", "томатн": "red", "кармин": "red", "карминов": "red",
    "красноват": "red",
    "пудров": "pink", "фуксиев": "pink", "розоват": "pink", "фламинго": "pink",
    "апельсинов": "orange", "мандаринов": "orange", "морковн": "orange", "тыквенн": "orange", "оранж": "orange",
    "абрикосов": "orange", "коралл": "orange", "кораллов": "orange", "янтарн": "orange", "ржав": "orange",
    "рыжеват": "orange", "персиков": "orange",
    "канареечн": "yellow", "лимонн": "yellow", "желтоват": "yellow", "позолоченн": "gold",
    "песочн": "beige", "телесн": "beige", "нюд": "beige", "нюдов": "beige", "экрю": "beige", "шампань": "beige",
    "каштанов": "brown", "орехов": "brown", "шоколадн": "brown", "кофейн": "brown", "карамельн": "brown",
    "коньячн": "brown", "табачн": "brown", "коричневат": "brown", "бур": "brown", "какао": "brown",
    "мокко": "brown", "капучино": "brown", "кэмел": "brown",
    "малахитов": "green", "травян": "green", "изумруд": "green", "хвойн": "green", "мятн": "green",
    "фисташков": "green", "болотн": "green", "лаймов": "green", "нефритов": "green", "зеленоват": "green",
    "сапфиров": "blue", "васильков": "blue", "джинсов": "blue", "небесн": "blue", "кобальтов": "blue",
    "синеват": "blue", "голубоват": "blue", "лазорев": "blue", "аквамарин": "blue", "аквамаринов": "blue",
    "ультрамарин": "blue", "ультрамаринов": "blue", "электрик": "blue", "нейви": "blue", "деним": "blue",
    "аметистов": "purple", "баклажан": "purple", "баклажанов": "purple", "сливов": "purple",
    "виноградн": "purple", "пурпурн": "purple", "фиалков": "purple",
    # materials
    "хлопк": "cotton", "хлопок": "cotton", "хлопков": "cotton", "шерст": "wool", "шерстян": "wool",
    "кож": "leather", "кожан": "leather", "полиэстер": "polyester", "нейлон": "nylon",
    "непромокаем": "waterproof", "водонепроницаем": "waterproof",
}
_ADJ = {"ый", "ий", "ой", "ая", "яя", "ое", "ее", "ые", "ие", "ого", "его", "ому", "ему", "ым", "им", "ую", "юю", "ых",
        "их", "ыми", "ими"}
_INDECLINABLE: set[str] = {""}
# Stems that are also the start of unrelated words when short ("час" → "часть", "топ" → "топор", "мат" →
# "матрас", "поло" → "полоса") or nouns with one fixed form: these take only the endings listed.
RU_EXACT: dict[str, set[str]] = {
    "гир": {"я", "и", "ю", "ей", "ями"}, "мяч": {"", "и", "а", "ом", "ей"}, "час": {"ы", "ов", "ам", "ами", "ах"},
    "топ": {"", "ы", "а", "ом", "ов", "ик"}, "бра": _INDECLINABLE, "парк": {"а", "и", "у", "ой"},
    "парн": {"ей", "я", "ю", "ям"}, "кож": {"а", "и", "у", "ей", "ой", "аный", "аная", "аные", "аное"},
    "винн": {"ый", "ая", "ое", "ые", "ого", "ую"},
    # fleeting-vowel plurals and indeclinable nouns: one form only
    "курток": _INDECLINABLE, "ветровок": _INDECLINABLE, "толстовок": _INDECLINABLE, "футболок": _INDECLINABLE,
    "маек": _INDECLINABLE, "пуховичок": _INDECLINABLE, "сумок": _INDECLINABLE, "свитерок": _INDECLINABLE,
    "рюкзачок": _INDECLINABLE,
    "ранец": _INDECLINABLE, "тренировок": _INDECLINABLE, "пальт": {"о"}, "худи": _INDECLINABLE,
    "поло": _INDECLINABLE, "капри": _INDECLINABLE, "бюстье": _INDECLINABLE, "чинос": _INDECLINABLE,
    "степ": _INDECLINABLE, "леди": _INDECLINABLE, "айвори": _INDECLINABLE, "маренго": _INDECLINABLE,
    "металлик": _INDECLINABLE, "фламинго": _INDECLINABLE, "оранж": _INDECLINABLE, "экрю": _INDECLINABLE,
    "шампань": _INDECLINABLE, "какао": _INDECLINABLE, "мокко": _INDECLINABLE, "капучино": _INDECLINABLE,
    "кэмел": _INDECLINABLE, "электрик": _INDECLINABLE, "нейви": _INDECLINABLE, "графит": _INDECLINABLE,
    "антрацит": _INDECLINABLE, "аквамарин": _INDECLINABLE, "ультрамарин": _INDECLINABLE,
    # short stems
    "топик": {"", "и", "а", "ом", "ов"}, "мат": {"", "ы", "ов", "ах"}, "бридж": {"и", "ей", "ах", "ами"},
    "часик": {"и", "ов", "ами", "ах"}, "ранц": {"а", "ы", "ев", "ем", "у"}, "торб": {"а", "у", "ы", "ой"},
    "штанг": {"а", "и", "у", "ой", "е"}, "фляг": {"а", "и", "у", "ой", "е"}, "упор": {"ы", "ов"},
    "джинс": {"ы", "ах", "ами", "ам"}, "лосин": {"ы", "ах", "ами", "ам", ""}, "йог": {"а", "и", "у", "ой", "е"},
    "бег": {"", "а", "у", "ом"}, "бегов": _ADJ, "спорт": {"", "а", "у", "ом"},
    "жен": _INDECLINABLE, "муж": _INDECLINABLE, "дам": {"", "ы", "ам", "ами"}, "нюд": _INDECLINABLE,
    "бур": _ADJ, "кармин": _INDECLINABLE, "деним": {"", "а"}, "тишк": {"а", "и", "у", "ой", "е", "ами"},
    "коралл": {"", "а", "ы"}, "ржав": _ADJ, "кофейн": _ADJ,
}

# ---- Turkish -------------------------------------------------------------------------------------------------
TR: dict[str, str] = {
    # jackets and other outerwear
    "ceket": "jacket", "mont": "jacket", "ruzgarlik": "jacket windbreaker", "kaban": "jacket",
    "yagmurluk": "jacket", "parka": "jacket", "palto": "jacket", "yelek": "jacket", "yeleg": "jacket",
    "trenckot": "jacket", "pardosu": "jacket",
    # hoodies and sweatshirts
    "kapusonlu": "hoodie", "kapson": "hoodie", "kapuson": "hoodie", "hirka": "sweatshirt", "kazak": "sweatshirt",
    "kazag": "sweatshirt", "triko": "sweatshirt", "suveter": "sweatshirt", "svitsort": "sweatshirt",
    "sweatshirt": "sweatshirt", "sweat": "sweatshirt", "polar": "fleece",
    # tees, tanks, bras
    "tisort": "tee", "tshirt": "tee", "bluz": "tee", "atlet": "tank", "fanila": "tank", "badi": "tank",
    "sutyen": "bra", "bustiyer": "bra",
    # pants and shorts
    "pantolon": "pants", "pantalon": "pants", "esofman": "pants", "tayt": "pants", "jogger": "pants",
    "kapri": "pants", "salvar": "pants", "sort": "shorts",
    # bags
    "canta": "bag", "sirtcanta": "backpack bag", "valiz": "luggage bag", "bavul": "luggage bag", "torba": "bag",
    # watches
    "saat": "watch", "kronograf": "watch",
    # fitness equipment
    "dambil": "dumbbell equipment", "dumbel": "dumbbell equipment", "fitbol": "ball equipment",
    "mat": "mat equipment", "matara": "bottle equipment", "suluk": "bottle equipment", "sise": "bottle equipment",
    "ekipman": "equipment",
    # what the gear is for
    "kosu": "running", "spor": "sport", "antrenman": "workout",
    # gender
    "kadin": "women", "bayan": "women", "kiz": "women", "hanim": "women", "hanimefendi": "women",
    "erkek": "men", "bay": "men", "beyefendi": "men",
    # colours the catalog's colour lexicon leaves out
    "kara": "black", "simsiyah": "black", "kapkara": "black", "beyaz": "white", "bembeyaz": "white",
    "fildisi": "white", "fume": "gray", "duman": "gray", "kursuni": "gray", "kizil": "red", "kipkirmizi": "red",
    "nar": "red", "visne": "red", "masmavi": "blue", "kobalt": "blue", "indigo": "blue", "civit": "blue",
    "safir": "blue", "zumrut": "green", "yemyesil": "green", "cimen": "green", "nane": "green", "zeytin": "green",
    "nefti": "green", "mandalina": "orange", "oranj": "orange", "kavunici": "orange",
    "mosmor": "purple", "leylak": "purple", "menekse": "purple", "patlican": "purple", "erik": "purple",
    "lavanta": "purple", "murdum": "purple", "ametist": "purple", "sapsari": "yellow", "kanarya": "yellow",
    "limon": "yellow", "kestane": "brown", "ceviz": "brown", "cikolata": "brown", "karamel": "brown",
    "tarcin": "brown", "kakao": "brown",
    # materials
    "pamuk": "cotton", "pamuklu": "cotton", "yun": "wool", "yunlu": "wool", "deri": "leather",
    "polyester": "polyester", "naylon": "nylon",
}
# Stems with their own suffix pattern: short ones (an English or Turkish word starts the same: "bayram", "spore",
# "mortal", "kızarmış") and "mat", which alone is the English word (Turkish "mat" alone is also "matte").
TR_EXACT: dict[str, str] = {
    "bay": "(?:lar|lara)?", "kiz": "", "nar": "", "erik": "", "limon": "", "saat": "(?:i|ler|leri)?",
    "duman": "(?:i)?", "sort": "(?:u|lar|lari)?", "mont": "(?:u|lar|lari|lu)?", "sweat": "", "kara": "",
    "spor": "(?:a|da|u)?", "mat": "(?:i|lar|lari)", "sise": "(?:si|ler|leri)?", "kosu": "(?:su|ya|da|lar)?",
    "tayt": "(?:i|lar|lari)?", "kakao": "", "yeleg": "(?:i|ler)", "kazag": "(?:i|in)",
}

# ---- Two-word names ------------------------------------------------------------------------------------------
PHRASES: dict[tuple[str, str], str] = {
    # English
    ("t", "shirt"): "tee", ("t", "shirts"): "tee", ("tank", "top"): "tank", ("crop", "top"): "tank",
    ("muscle", "shirt"): "tank", ("sports", "bra"): "bra", ("sport", "bra"): "bra", ("rain", "jacket"): "jacket",
    ("shell", "jacket"): "jacket", ("rain", "shell"): "jacket", ("puffer", "vest"): "jacket",
    ("down", "vest"): "jacket", ("quilted", "vest"): "jacket", ("track", "pants"): "pants",
    ("tote", "bag"): "tote bag", ("duffle", "bag"): "duffle bag", ("duffel", "bag"): "duffle bag",
    ("messenger", "bag"): "messenger bag", ("gym", "bag"): "bag",
    ("stability", "ball"): "ball equipment", ("exercise", "ball"): "ball equipment",
    ("swiss", "ball"): "ball equipment", ("gym", "ball"): "ball equipment", ("balance", "ball"): "ball equipment",
    ("medicine", "ball"): "ball equipment", ("yoga", "ball"): "ball equipment",
    ("yoga", "mat"): "yoga mat equipment", ("foam", "roller"): "foam roller equipment",
    ("massage", "roller"): "foam roller equipment", ("jump", "rope"): "jump rope equipment",
    ("skipping", "rope"): "jump rope equipment", ("resistance", "band"): "band equipment",
    ("exercise", "band"): "band equipment", ("strength", "band"): "band equipment",
    ("loop", "band"): "band equipment", ("yoga", "strap"): "yoga strap equipment",
    ("yoga", "block"): "yoga brick equipment", ("yoga", "brick"): "yoga brick equipment",
    ("water", "bottle"): "water bottle equipment", ("kettle", "bell"): "kettlebell equipment",
    ("step", "platform"): "step equipment", ("pushup", "grip"): "pushup grips equipment",
    ("pushup", "bar"): "pushup grips equipment",
    # Russian
    ("спортивн", "топ"): "bra", ("спортивн", "штан"): "pants", ("спортивн", "брюк"): "pants",
    ("наручн", "час"): "watch", ("дорожн", "сумк"): "duffle bag", ("коврик", "йог"): "yoga mat equipment",
    ("блок", "йог"): "yoga brick equipment", ("йог", "блок"): "yoga brick equipment",
    ("кирпич", "йог"): "yoga brick equipment", ("ремен", "йог"): "yoga strap equipment",
    ("бутылк", "вод"): "water bottle equipment", ("фитнес", "резинк"): "band equipment",
    ("резинк", "фитнес"): "band equipment", ("резинов", "петл"): "band equipment",
    ("массажн", "ролик"): "foam roller equipment", ("массажн", "валик"): "foam roller equipment",
    ("ролик", "мфр"): "foam roller equipment", ("мфр", "ролик"): "foam roller equipment",
    ("степ", "платформ"): "step equipment", ("упор", "отжиман"): "pushup grips equipment",
    ("спортивн", "инвентар"): "equipment",
    # Turkish ("top" is "ball" in Turkish but a garment in English: only with a Turkish suffix or word)
    ("spor", "sutyen"): "bra", ("spor", "bra"): "bra", ("esofman", "alt"): "pants", ("esofman", "ust"): "jacket",
    ("kapusonlu", "mont"): "jacket", ("kapusonlu", "ceket"): "jacket", ("sirt", "canta"): "backpack bag",
    ("postaci", "canta"): "messenger bag", ("kol", "saat"): "watch", ("su", "gecirmez"): "waterproof",
    ("pilates", "topu"): "ball equipment", ("pilates", "topl"): "ball equipment",
    ("fitness", "topu"): "ball equipment", ("fitness", "topl"): "ball equipment",
    ("yoga", "topu"): "ball equipment", ("yoga", "topl"): "ball equipment", ("denge", "top"): "ball equipment",
    ("egzersiz", "top"): "ball equipment", ("jimnastik", "top"): "ball equipment",
    ("pilates", "mat"): "mat equipment", ("egzersiz", "mat"): "mat equipment",
    ("yoga", "minder"): "yoga mat equipment",
    ("pilates", "minder"): "mat equipment", ("kopuk", "rulo"): "foam roller equipment",
    ("masaj", "rulo"): "foam roller equipment", ("kopuk", "silindir"): "foam roller equipment",
    ("direnc", "band"): "band equipment", ("direnc", "lasti"): "band equipment",
    ("pilates", "band"): "band equipment", ("egzersiz", "band"): "band equipment",
    ("egzersiz", "lasti"): "band equipment", ("yoga", "kayis"): "yoga strap equipment",
    ("yoga", "blok"): "yoga brick equipment", ("yoga", "blog"): "yoga brick equipment",
    ("su", "sise"): "water bottle equipment",
    ("atlama", "ip"): "jump rope equipment", ("el", "agirlig"): "dumbbell equipment",
    ("step", "tahta"): "step equipment", ("sinav", "bar"): "pushup grips equipment",
    ("sinav", "tutac"): "pushup grips equipment", ("spor", "alet"): "equipment", ("spor", "ekipman"): "equipment",
}

# ---- Colour expressions --------------------------------------------------------------------------------------
# Modifiers: followed by a colour word they give way to it ("dark green", "темно-синий", "koyu mavi", "slate
# blue", "rose gold", "gece mavisi"); beside a frame word or after another modifier they name their own colour
# ("sand coloured", "kül rengi", "koyu kahve"); alone they name nothing ("light jacket", "deniz"), though the
# single-word tables may still read one ("heather" → gray). "" : no colour of its own (a shade word).
COLOUR_MODIFIERS: dict[str, str] = {
    # English
    "dark": "", "light": "", "bright": "", "pale": "", "deep": "", "soft": "", "hot": "", "baby": "", "neon": "",
    "pastel": "", "electric": "", "dusty": "", "dusky": "", "muted": "", "vivid": "", "burnt": "", "off": "",
    "mid": "", "medium": "", "metallic": "", "matte": "", "matt": "", "powder": "", "ice": "", "icy": "",
    "army": "", "hunter": "", "kelly": "", "bottle": "", "sea": "", "rich": "", "warm": "", "cool": "",
    "faded": "", "washed": "", "heathered": "", "mat": "",  # "mat black", "mat siyah": matte (alone: a mat)
    "sand": "beige", "rose": "pink", "bone": "beige", "skin": "beige", "flesh": "beige", "steel": "gray",
    "sky": "blue", "ocean": "blue", "blood": "red", "royal": "blue", "slate": "gray", "heather": "gray",
    "smoke": "gray", "stone": "gray", "ash": "gray", "dove": "gray", "midnight": "blue", "wine": "red",
    "coffee": "brown", "tiffany": "blue",
    # Russian (the first half of a hyphenated colour: тёмно-синий, серо-голубой)
    "темно": "", "светло": "", "ярко": "", "бледно": "", "нежно": "", "насыщенно": "", "приглушенно": "",
    "пыльно": "", "грязно": "", "кислотно": "", "неоново": "", "пастельно": "", "тускло": "", "глубоко": "",
    "серо": "gray", "небесно": "blue", "кроваво": "red",
    # Turkish
    "koyu": "", "acik": "", "parlak": "", "ucuk": "", "soluk": "", "canli": "", "toz": "", "bebe": "",
    "bebek": "", "fosforlu": "", "fosfor": "", "seker": "", "su": "", "metalik": "",
    "buz": "blue", "gece": "blue", "gok": "blue", "deniz": "blue", "petrol": "blue", "saks": "blue",
    "kot": "blue", "okyanus": "blue", "havaci": "blue", "kar": "white", "sut": "white", "inci": "white",
    "kemik": "beige", "ten": "beige", "kum": "beige", "kan": "red", "sarap": "red", "kiraz": "red",
    "gul": "pink", "pudra": "pink", "kiremit": "orange", "mercan": "orange", "portakal": "orange",
    "seftali": "orange", "kayisi": "orange", "celik": "gray", "kul": "gray", "fare": "gray", "kursun": "gray",
    "komur": "black", "kahve": "brown", "toprak": "brown", "asker": "green", "kuf": "green", "yosun": "green",
    "cagla": "green", "fistik": "green", "yag": "green", "yaprak": "green",
}
# Russian nouns after "цвета" (цвета кофе, цвета неба, цвета вина), matched as a stem with up to two letters of
# ending; they act as modifiers too.
RU_COLOUR_NOUNS: dict[str, str] = {
    "кофе": "brown", "шоколад": "brown", "какао": "brown", "капучино": "brown", "мокко": "brown",
    "карамел": "brown", "кориц": "brown", "коньяк": "brown", "каштан": "brown", "орех": "brown",
    "вин": "red", "вишн": "red", "кров": "red", "малин": "red", "клубник": "red", "гранат": "red",
    "рубин": "red", "томат": "red", "мят": "green", "олив": "green", "лайм": "green", "трав": "green",
    "изумруд": "green", "малахит": "green", "фисташ": "green", "хаки": "green",
    "неб": "blue", "мор": "blue", "сапфир": "blue", "лазур": "blue", "бирюз": "blue", "аквамарин": "blue",
    "ультрамарин": "blue", "электрик": "blue", "деним": "blue", "тиффани": "blue", "индиго": "blue",
    "лаванд": "purple", "сирен": "purple", "слив": "purple", "фиалк": "purple", "баклажан": "purple",
    "аметист": "purple", "виноград": "purple", "персик": "orange", "абрикос": "orange", "апельсин": "orange",
    "морков": "orange", "мандарин": "orange", "тыкв": "orange", "коралл": "orange", "терракот": "orange",
    "горчиц": "yellow", "лимон": "yellow", "банан": "yellow", "канарейк": "yellow",
    "песк": "beige", "песок": "beige", "сливок": "beige", "крем": "beige", "шампан": "beige", "нюд": "beige",
    "тел": "beige", "пудр": "pink", "фукси": "pink", "пепл": "gray", "графит": "gray", "асфальт": "gray",
    "стал": "gray", "антрацит": "gray", "свинц": "gray", "угл": "black", "смол": "black", "снег": "white",
    "молок": "white", "жемчуг": "white", "айвори": "white", "золот": "gold", "серебр": "silver",
    "металлик": "silver",
}
# Words meaning "colour" that join the colour beside them: черного цвета, цвета хаки, kırmızı renkli, black colour.
COLOUR_FRAMES = frozenset({
    "color", "colour", "colored", "coloured", "colors", "colours", "shade", "tone",
    "цвет", "цвета", "цвете", "цветом", "оттенок", "оттенка", "оттенке", "оттенком",
    "renk", "rengi", "renkli", "renginde", "renkte", "rengine", "rengini", "renkleri", "renklerde",
})
# Colour idioms of two words, as (stem, stem) like PHRASES: цвет морской волны, gül kurusu.
COLOUR_IDIOMS: dict[tuple[str, str], str] = {
    ("морск", "волн"): "blue", ("слонов", "кост"): "white", ("мокр", "асфальт"): "gray",
    ("пыльн", "роз"): "pink", ("чайн", "роз"): "pink", ("gul", "kurus"): "pink", ("visne", "curug"): "red",
    ("deve", "tuy"): "brown", ("nar", "cicek"): "red", ("ordek", "bas"): "blue",
}
# The colour lexicon's weak words (engine.catalog.colours: common non-colour words, trusted in titles, not in
# descriptions) are read as colours in a query, which is a short label as a title is; except these, which in a
# query for bags, bottles or watches often name a thing ("sand bag", "wine bottle", "coffee flask", "rose gold"):
# they name their colour only as modifiers ("wine red", "sand coloured").
NOT_QUERY_COLOURS = frozenset({"sand", "rose", "wine", "coffee"})
