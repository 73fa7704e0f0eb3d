"""The query lexicon's shop dictionary (engine.search.vocabulary) word family by word family: garment, bag,
watch and gear names with their word forms in three languages, compound colours, colour idioms and "colour of"
constructions, gender words and short forms; and everyday words that start like a short stem, which must stay
unread."""
from __future__ import annotations

import pytest

from engine.catalog.colours import CANONICAL
from engine.search import vocabulary as v
from engine.search.lexicon import colour_of, translate, word_english
from engine.search.parse import CategoryInfo, QueryParser
from engine.search.tokens import fold


def _reads(query: str, english: str) -> bool:
    return set(english.split()) <= set(translate(query).text.split())


# ---- garments, bags, watches ---------------------------------------------------------------------------------
@pytest.mark.parametrize("english, words", [
    ("jacket", "куртка курток курточку ветровки штормовку пуховичок пальто плащи дождевик тренч бомбера пиджак "
               "жилетку косуха олимпийку ceket ceketleri montu yağmurluk rüzgarlık yeleği trençkot pardösü "
               "parkas puffer gilet raincoats overcoat"),
    ("hoodie", "худи толстовку толстовок пуловер kapüşonlu kapüşon hoodies hoody"),
    ("sweatshirt", "свитшоты свитерок кофточку джемпера кардиган hırkalar kazağı triko süveter jumper cardigans"),
    ("tee", "футболки футболок тишка лонгслив поло tişörtü tişörtler polo longsleeve t-shirts"),
    ("tank", "майки маек борцовку топы топики кроп-топ atlet fanila singlets tanktop crop-top"),
    ("bra", "бюстгальтеры лифчик бюстье sütyeni büstiyer bralettes"),
    ("pants", "брюках брючки штанов леггинсы легинсы лосины джогеры капри бриджи тайтсы треники джинсы "
              "pantolonu eşofman taytı kapri şalvar trousers chinos jeans leggins trackpants"),
    ("shorts", "шортики бермуды велосипедки şortu şortlar bermudas boardshorts"),
    ("bag", "сумок сумочку портфель барсетку бананка клатч çantaları torba crossbody satchel"),
    ("backpack bag", "рюкзаки рюкзачок ранец sırtçantası rucksack daypack"),
    ("tote bag", "шопер тоут totes"),
    ("duffle bag", "баул holdall weekender"),
    ("luggage bag", "чемодан valiz bavul suitcase luggage"),
    ("watch", "часы часики хронограф saatler kronograf smartwatch timepiece"),
])
def test_garment_bag_and_watch_names_with_their_word_forms(english, words):
    assert [w for w in words.split() if not _reads(w, english)] == []


@pytest.mark.parametrize("query, english", [
    ("спортивный топ", "bra"), ("spor sütyeni", "bra"), ("spor bra", "bra"), ("sports bra", "bra"),
    ("eşofman altı", "pants"), ("eşofman üstü", "jacket"), ("kapüşonlu mont", "jacket"),
    ("sırt çantası", "backpack bag"), ("postacı çantası", "messenger bag"), ("дорожная сумка", "duffle bag"),
    ("kol saatleri", "watch"), ("наручные часы", "watch"), ("puffer vest", "jacket"), ("muscle shirt", "tank"),
])
def test_two_word_names(query, english):
    assert translate(query).text == english


# ---- fitness gear, loan words included -----------------------------------------------------------------------
@pytest.mark.parametrize("query, english", [
    ("фитбол", "ball equipment"), ("фитболы", "ball equipment"), ("мяч", "ball equipment"),
    ("pilates topu", "ball equipment"), ("fitness topu", "ball equipment"), ("denge topu", "ball equipment"),
    ("pilates topları", "ball equipment"), ("fitball", "ball equipment"), ("swiss ball", "ball equipment"),
    ("stability balls", "ball equipment"),
    ("коврик для йоги", "yoga mat equipment"), ("маты", "mat equipment"), ("йогамат", "yoga mat equipment"),
    ("yoga matı", "yoga mat equipment"), ("pilates matı", "mat equipment"), ("mat", "mat equipment"),
    ("гантели", "dumbbell equipment"), ("гантель", "dumbbell equipment"), ("dambıl", "dumbbell equipment"),
    ("dambıllar", "dumbbell equipment"), ("el ağırlığı", "dumbbell equipment"), ("dumbells", "dumbbell equipment"),
    ("гири", "kettlebell equipment"), ("kettlebell", "kettlebell equipment"), ("штанга", "barbell equipment"),
    ("эспандер", "band equipment"), ("резинка для фитнеса", "band equipment"), ("direnç bandı", "band equipment"),
    ("direnç lastiği", "band equipment"), ("resistance bands", "band equipment"),
    ("бутылка для воды", "water bottle equipment"), ("фляжка", "bottle equipment"), ("matara", "bottle equipment"),
    ("su şişesi", "water bottle equipment"), ("suluk", "bottle equipment"), ("water bottle", "water bottle equipment"),
    ("köpük rulo", "foam roller equipment"), ("masaj rulosu", "foam roller equipment"),
    ("массажный ролик", "foam roller equipment"), ("роллер", "roller equipment"),
    ("foam roller", "foam roller equipment"),
    ("скакалку", "jump rope equipment"), ("atlama ipi", "jump rope equipment"), ("jump rope", "jump rope equipment"),
    ("степ-платформа", "step equipment"), ("step platformu", "step equipment"),
    ("блок для йоги", "yoga brick equipment"),
    ("yoga bloğu", "yoga brick equipment"), ("yoga block", "yoga brick equipment"),
    ("yoga kayışı", "yoga strap equipment"), ("упоры для отжиманий", "pushup grips equipment"),
])
def test_fitness_gear_and_its_loan_words(query, english):
    assert translate(query).text == english


def test_gear_words_name_the_category():
    cats = [CategoryInfo(1, "Gear", "Gear", None), CategoryInfo(2, "Fitness Equipment", "Gear/Fitness Equipment", 1, 9),
            CategoryInfo(3, "Bags", "Gear/Bags", 1, 9), CategoryInfo(4, "Watches", "Gear/Watches", 1, 9)]
    parser = QueryParser(cats)
    for query, category in [("фитбол", "Fitness Equipment"), ("pilates topu", "Fitness Equipment"),
                            ("su şişesi", "Fitness Equipment"), ("рюкзак", "Bags"), ("rucksack", "Bags"),
                            ("sırt çantası", "Bags"), ("часики", "Watches")]:
        parsed = parser.parse(query)
        assert parsed.get("category").value == category, query
        assert parsed.rest == "", query  # a phrase's words all belong to its category


# ---- colours: compounds, shades, idioms ------------------------------------------------------------------------
@pytest.mark.parametrize("query, colour", [
    ("тёмно-синий", "blue"), ("темно синяя", "blue"), ("светло-серые", "gray"), ("ярко-красный", "red"),
    ("бледно-розовая", "pink"), ("серо-голубой", "blue"), ("тёмно-серо-синий", "blue"), ("темносиний", "blue"),
    ("koyu mavi", "blue"), ("açık gri", "gray"), ("açık yeşil", "green"), ("toz pembe", "pink"),
    ("gece mavisi", "blue"), ("petrol yeşili", "green"), ("limon sarısı", "yellow"), ("zeytin yeşili", "green"),
    ("kiremit kırmızısı", "red"), ("koyu kahve", "brown"), ("koyu kahve rengi", "brown"),
    ("dark green", "green"), ("light blue", "blue"), ("light-grey", "gray"), ("navy blue", "blue"),
    ("olive green", "green"), ("hot pink", "pink"), ("off-white", "white"), ("slate blue", "blue"),
    ("heather grey", "gray"), ("midnight black", "black"), ("rose gold", "gold"), ("wine red", "red"),
    ("lightblue", "blue"), ("mat siyah", "black"), ("light heather grey", "gray"),
])
def test_compound_colours_read_as_their_base_colour(query, colour):
    t = translate(query)
    assert t.text == colour and len(set(t.english)) == 1


@pytest.mark.parametrize("query, colour", [
    ("черного цвета", "black"), ("цвета хаки", "green"), ("цвета кофе", "brown"), ("цвета шоколада", "brown"),
    ("цвета неба", "blue"), ("цвета вина", "red"), ("цвета морской волны", "blue"), ("цвета слоновой кости", "white"),
    ("цвет мокрого асфальта", "gray"), ("пыльная роза", "pink"), ("синего оттенка", "blue"),
    ("kül rengi", "gray"), ("kahve rengi", "brown"), ("ten rengi", "beige"), ("şarap rengi", "red"),
    ("kırmızı renkli", "red"), ("gül kurusu", "pink"), ("vişne çürüğü", "red"), ("ördek başı", "blue"),
    ("sand coloured", "beige"), ("rose colored", "pink"), ("colour black", "black"), ("coffee colour", "brown"),
])
def test_colour_idioms_and_colour_of_constructions(query, colour):
    assert translate(query).text == colour


@pytest.mark.parametrize("word, colour", [
    ("khaki", "beige"), ("navy", "blue"), ("burgundy", "red"), ("maroon", "red"), ("teal", "blue"),
    ("charcoal", "gray"), ("olive", "green"), ("mint", "green"), ("plum", "purple"), ("tan", "brown"),
    ("midnight", "blue"), ("heather", "gray"), ("terracotta", "orange"), ("ecru", "beige"), ("gunmetal", "gray"),
    ("пудровый", "pink"), ("болотная", "green"), ("бурый", "brown"), ("персиковый", "orange"), ("электрик", "blue"),
    ("fildişi", "white"), ("nefti", "green"), ("lavanta", "purple"), ("krem", "beige"),
])
def test_single_colour_words_and_weak_shades(word, colour):
    assert colour_of(fold(word)) == colour


def test_weak_words_that_name_things_in_this_shop_need_a_colour_beside_them():
    for word in ("sand", "rose", "wine", "coffee", "кофе", "kahve", "deniz", "dark", "light", "koyu", "темно"):
        assert colour_of(fold(word)) is None, word
    assert translate("sand bag").text == "sand bag" and translate("wine bottle").text == "wine bottle equipment"
    assert translate("light jacket").text == "light jacket" and translate("koyu kahve").text == "brown"
    assert translate("черно-белая").text == "black white"  # two colours, not a shade of one


def test_parser_reads_a_compound_colour_as_one_chip_and_drops_it_whole():
    parser = QueryParser([CategoryInfo(1, "Women", "Women", None), CategoryInfo(2, "Jackets", "Women/Jackets", 1, 5)])
    got = parser.parse("тёмно-синяя женская куртка")
    assert got.get("colour").value == "blue" and got.get("colour").words == ("темно", "синяя")
    assert got.rest == "" and got.retrieval_text() == "blue women jacket"
    off = parser.parse("koyu kahve rengi kadın ceket", ignore=["colour"])
    assert off.retrieval_text() == "women jacket"
    assert not {"koyu", "kahve", "rengi", "brown"} & set(off.lexical_text().split())


# ---- gender ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query, gender", [
    ("жен.", "women"), ("жен", "women"), ("для дам", "women"), ("леди", "women"), ("hanım", "women"),
    ("hanımlar", "women"), ("bayanlar için", "women"), ("hanımefendi", "women"), ("wmns", "women"),
    ("ladieswear", "women"), ("муж.", "men"), ("мужиков", "men"), ("erkekler için", "men"), ("baylar", "men"),
    ("beyefendi", "men"), ("gentlemen", "men"), ("menswear", "men"),
])
def test_gender_words_and_short_forms(query, gender):
    assert gender in translate(query).text.split()


def test_words_that_name_no_gender():
    parser = QueryParser([CategoryInfo(1, "Women", "Women", None), CategoryInfo(2, "Men", "Men", None)])
    for query in ("for her", "for him", "her", "unisex", "унисекс", "her renk", "жена", "мужество"):
        assert parser.parse(query).get("gender") is None, query


# ---- false positives ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("word", [
    # Russian words that start like a short stem
    "часть", "часто", "топор", "топливо", "матрас", "матч", "математика", "матовый", "мать", "полоса", "полотенце",
    "половина", "поломка", "каприз", "капризный", "дамба", "мужество", "жена", "женат", "йогурт", "бегать",
    "бегемот", "степь", "степной", "спортсмен", "упорный", "штангенциркуль", "лосиный", "бурундук", "буря",
    "бурный", "ржавчина", "нюанс", "брат", "гирлянда", "тишина", "майонез", "кофейня", "олимпийский", "бридж",
    # Turkish and English words that start like one
    "bayram", "spore", "mortal", "montana", "mate", "math", "matter", "erkekçe", "kazan", "shorten",
    "topic", "yoga top", "pilates top", "top", "blouse",
])
def test_lookalikes_stay_unread(word):
    t = translate(word)
    assert not any(t.english), (word, t.english)


def test_colour_compounds_need_a_whole_colour_after_the_shade():
    for word in ("seared", "darken", "darkness", "lighter", "lightning", "softball", "deepen", "paleo",
                 "темнота", "светлое", "яркость"):
        assert colour_of(word) is None and word_english(word) is None, word


# ---- the tables themselves -------------------------------------------------------------------------------------
def test_vocabulary_keys_are_folded_and_values_are_catalog_words():
    stems = [*v.EN, *v.RU, *v.TR, *v.RU_EXACT, *v.TR_EXACT, *v.COLOUR_MODIFIERS, *v.RU_COLOUR_NOUNS,
             *v.COLOUR_FRAMES, *(s for k in (*v.PHRASES, *v.COLOUR_IDIOMS) for s in k)]
    assert [s for s in stems if fold(s) != s or " " in s] == []  # an unfolded key could never match
    assert set(v.RU_EXACT) <= set(v.RU) and set(v.TR_EXACT) <= set(v.TR)
    colours = [*v.COLOUR_MODIFIERS.values(), *v.RU_COLOUR_NOUNS.values(), *v.COLOUR_IDIOMS.values()]
    assert set(colours) <= set(CANONICAL) | {""}
    assert v.NOT_QUERY_COLOURS <= set(v.COLOUR_MODIFIERS)  # each still read beside a colour word
