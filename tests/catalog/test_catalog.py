"""The colour lexicon and the Catalog read API, over the real Luma import plus a small multilingual feed."""
from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import event, select

from engine.catalog import Catalog, Database, import_generic, import_magento
from engine.catalog.colours import CANONICAL, detect_colour, find_colours, fold, normalise_colour
from engine.catalog.models import Category, Product, ProductCategory, ProductLink
from engine.catalog.search import search_fts, search_sql
from engine.errors import NotFound, ValidationError

FIXTURES = Path(__file__).parents[1] / "fixtures"


# ------------------------------------------------------------------------------------------- colours
@pytest.mark.parametrize("title, colour", [
    # Russian: genders, cases, ё/е, compounds
    ("Платье красное вечернее", "red"), ("Красная футболка", "red"), ("Красный свитер", "red"),
    ("Куртка чёрного цвета", "black"), ("ЧЕРНЫЕ джинсы", "black"), ("Тёмно-синий костюм", "blue"),
    ("Белое бельё", "white"), ("Серые брюки", "gray"), ("Ярко-жёлтая сумка", "yellow"),
    ("Зелёное пальто", "green"), ("Голубая рубашка", "blue"), ("Бежевый тренч", "beige"),
    ("Сиреневое платье", "purple"), ("Розовые кеды", "pink"), ("Коричневые ботинки", "brown"),
    # Turkish: dotted/dotless i, suffixes
    ("SİYAH DERİ CEKET", "black"), ("Kırmızı elbise", "red"), ("KIRMIZI ELBİSE", "red"),
    ("Kırmızılı bluz", "red"), ("Lacivert gömlek", "blue"), ("Mavimsi şal", "blue"), ("Beyaz tişört", "white"),
    ("Yeşil mont", "green"), ("Sarı çanta", "yellow"), ("Gri kazak", "gray"), ("Mor etek", "purple"),
    ("Kahverengi bot", "brown"), ("Gümüş kolye", "silver"), ("Altın yüzük", "gold"),
    # English
    ("Navy blazer", "blue"), ("Grey hoodie", "gray"), ("Lavender tank", "purple"), ("Burgundy scarf", "red"),
    ("Olive jacket", "green"),
])
def test_detect_colour_in_titles(title: str, colour: str):
    assert detect_colour(title) == colour


@pytest.mark.parametrize("text", [
    "бельё хлопковое", "белок и жиры", "серия 5", "сера", "голубь мира", "зелень", "Chaz Kangeroo Hoodie",
    "more comfortable than ever", "Hakiki deri", "altında saklayın", "hakim yaka",
])
def test_words_that_only_look_like_colours(text: str):
    assert find_colours(text, weak=True) == []


def test_title_wins_and_weak_words_need_the_title():
    assert detect_colour("Red dress", "pairs well with black shoes") == "red"
    assert detect_colour("Dress", "pairs well with black shoes") == "black"
    assert detect_colour("Salad bowl", "for olive oil and lime") is None  # weak words: not from descriptions
    assert detect_colour("Olive bowl") == "green"
    assert detect_colour("Кофейный столик") == "brown" and detect_colour("Столик", "кофейный") is None
    assert detect_colour("", "") is None


def test_fold_evens_out_case_and_script():
    assert fold("SİYAH") == fold("siyah") == fold("Sıyah") == "siyah"
    assert fold("Чёрный") == "черный"
    assert fold("GÜMÜŞ") == "gumus"


@pytest.mark.parametrize("value, colour", [
    ("Gray", "gray"), ("Black", "black"), ("Lavender", "purple"), ("Чёрный", "black"), ("ТЁМНО-СИНИЙ", "blue"),
    ("Kırmızı", "red"), ("Dark Blue", "blue"), ("Black/White", "black"), ("cream", "beige"), ("Хаки", "green"),
    ("xyz", None), ("", None), (None, None),
])
def test_normalise_colour(value, colour):
    assert normalise_colour(value) == colour
    assert colour is None or colour in CANONICAL


# ------------------------------------------------------------------------------------------- Catalog
@pytest.fixture(scope="module")
def db(luma_dir: Path, tmp_path_factory) -> Database:
    tmp = tmp_path_factory.mktemp("catalog")
    database = Database(f"sqlite:///{tmp / 'catalog.db'}")
    assert import_magento(database, luma_dir).rejected == []
    feed = tmp / "feed"
    shutil.copytree(FIXTURES / "generic", feed)
    (feed / "photos").mkdir()
    Image.new("RGB", (8, 8)).save(feed / "photos" / "tee.jpg")
    assert import_generic(database, feed / "products.csv").created == 5
    return database


@pytest.fixture(scope="module")
def catalog(db: Database) -> Catalog:
    return Catalog(db)


@pytest.fixture(scope="module")
def rows(db: Database) -> dict[str, Product]:
    with db.session() as s:
        return {p.sku: p for p in s.scalars(select(Product))}


@pytest.fixture(scope="module")
def tree(db: Database) -> dict[int, Category]:
    with db.session() as s:
        return {c.id: c for c in s.scalars(select(Category))}


def _statements(db: Database):
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", count)


def test_get_by_sku_id_and_digit_string(catalog: Catalog, rows: dict[str, Product]):
    p = catalog.get("MH01-Black")
    assert p.sku == "MH01-Black" and p.images and p.images[0].role == "main"
    assert catalog.get(p.id).sku == "MH01-Black" and catalog.get(str(p.id)).sku == "MH01-Black"
    assert catalog.get("  MH01-Black ").id == p.id
    assert p.category.path == "Men/Tops/Hoodies & Sweatshirts"  # loaded: usable after the session closed


def test_get_unknown_raises_not_found(catalog: Catalog):
    with pytest.raises(NotFound, match="no product with sku 'NOPE-1'"):
        catalog.get("NOPE-1")
    with pytest.raises(NotFound, match="no product with id 999999"):
        catalog.get(999999)
    with pytest.raises(ValidationError):
        catalog.get("  ")
    with pytest.raises(ValidationError):
        catalog.get(1.5)


def test_card_matches_the_row(catalog: Catalog, rows: dict[str, Product], tree: dict[int, Category]):
    for sku in ("MH01-Black", "24-MB04", "TEE-RED", "RU-1"):
        row = rows[sku]
        card = catalog.card(catalog.get(sku))
        chain, cid = [], row.category_id
        while cid is not None:
            chain.append(cid)
            cid = tree[cid].parent_id
        assert card.category_ids == chain and card.category_id == row.category_id
        assert card.category == tree[row.category_id].name
        assert card.category_path == " / ".join(tree[c].name for c in reversed(chain))
        photos = catalog.get(sku).images
        assert card.image == (photos[0].path if photos else None)
        assert (card.sku, card.title, card.price, card.colour, card.group_key) == \
            (row.sku, row.title, row.price, row.colour, row.group_key)
        assert card.in_stock == (row.stock_qty > 0) and card.is_active == row.is_active
    assert catalog.card(catalog.get("TEE-RED")).brand == "Acme"
    assert catalog.card(catalog.get("MH01-Black")).category_path == "Men / Tops / Hoodies & Sweatshirts"


def test_cards_keep_order_skip_unknown_and_batch(db: Database, catalog: Catalog, rows: dict[str, Product]):
    ids = sorted(p.id for p in rows.values())[::-1][:300]
    catalog.cards(ids[:1])  # the category tree is now cached
    seen, stop = _statements(db)
    try:
        cards = catalog.cards(ids + [10**9])
    finally:
        stop()
    assert list(cards) == ids
    assert len(seen) <= 4  # products, photos, brands: no query per product
    assert all(c.id == i for i, c in cards.items())
    assert catalog.cards([]) == {}


def test_search(catalog: Catalog):
    hits = catalog.search("hoodie", limit=200)
    assert hits and all("hoodie" in c.title.lower() or "hoodie" in c.sku.lower() for c in hits)
    assert [c.id for c in catalog.search("HOODIE", limit=200)] == [c.id for c in hits]
    assert catalog.search("mh01-black")[0].sku == "MH01-Black"  # the exact sku first
    assert {c.sku for c in catalog.search("MH01")} == {"MH01-Black", "MH01-Gray", "MH01-Orange"}
    assert len(catalog.search("e", limit=7)) == 7
    assert [c.sku for c in catalog.search("ПЛАТЬЕ")] == ["RU-1"]  # Cyrillic case
    assert [c.sku for c in catalog.search("siyah deri")] == ["TR-1"]  # Turkish İ
    assert catalog.search("%") == [] and catalog.search("   ") == []
    assert catalog.search("siyah", active_only=True) == []  # TR-1 is inactive
    with pytest.raises(ValidationError):
        catalog.search("tee", limit=0)


def _scan(db: Database, needle: str, active_only: bool = False) -> list[int]:
    """The reference: every product's folded sku and title tested and ranked here, in Python."""
    want = fold(needle)
    hits = []
    with db.session() as s:
        for p in s.scalars(select(Product)):
            fs, ft = fold(p.sku), fold(p.title)
            if (want in fs or want in ft) and (p.is_active or not active_only):
                rank = 0 if fs == want else 1 if fs.startswith(want) else 2 if ft.startswith(want) else 3
                hits.append((rank, ft, p.id))
    return [pid for _, _, pid in sorted(hits)]


@pytest.mark.parametrize("needle", ["jacket", "MH0", "Tee", "24-WG08", "_", "e", "ja", "ЧЁРН", "kirmizi",
                                    "SİYAH DERİ", 'a "quote', "%"])
def test_the_fts_search_finds_and_ranks_what_a_folded_scan_would(catalog: Catalog, needle: str):
    """SQLite answers from the FTS5 table (trigram index from three letters, instr() below): same products,
    same order as folding every row in Python, for long and short needles, quotes and LIKE wildcards."""
    for active_only in (False, True):
        assert search_fts(catalog.db, needle, 1000, active_only) == _scan(catalog.db, needle, active_only)[:1000]


def test_search_in_sql_agrees_with_the_fts_search(catalog: Catalog):
    """The ILIKE path (other databases) and the FTS path find the same products for ASCII."""
    for needle in ("jacket", "MH0", "Tee", "24-WG08", "_"):
        assert set(search_sql(catalog.db, needle, 500, False)) == set(search_fts(catalog.db, needle, 500, False))


def test_the_search_table_follows_every_write(db: Database, catalog: Catalog):
    """Triggers keep the folded text in step with inserts, renames and deletes, whoever writes."""
    with db.session() as s:
        s.add(Product(sku="FTS-NEW", title="Зелёная Kırmızı Ceket"))
    assert [c.sku for c in catalog.search("зеленая kirmizi")] == ["FTS-NEW"]
    with db.session() as s:
        s.scalar(select(Product).where(Product.sku == "FTS-NEW")).title = "Plain renamed coat"
    assert catalog.search("зеленая") == [] and [c.sku for c in catalog.search("renamed coat")] == ["FTS-NEW"]
    with db.session() as s:
        s.delete(s.scalar(select(Product).where(Product.sku == "FTS-NEW")))
    assert catalog.search("renamed coat") == []


def test_a_database_made_before_the_search_table_gets_it_filled(tmp_path: Path, db: Database):
    """Opening a database without `product_search` (an older release's) creates and fills it."""
    path = tmp_path / "old.db"
    old = Database(f"sqlite:///{path}")
    with old.session() as s:
        s.add_all([Product(sku="OLD-1", title="Siyah Deri Çanta"), Product(sku="OLD-2", title="Red bag")])
    with old.engine.begin() as conn:
        for name in ("product_search_ai", "product_search_ad", "product_search_au"):
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        conn.exec_driver_sql("DROP TABLE product_search")
    old.engine.dispose()
    reopened = Catalog(Database(f"sqlite:///{path}"))
    assert [c.sku for c in reopened.search("SİYAH")] == ["OLD-1"] and [c.sku for c in reopened.search("bag")]


def test_list_products_pages_cover_the_subtree(catalog: Catalog, rows: dict[str, Product], db: Database):
    men = catalog.category("Men")
    subtree = set(catalog.category_descendants(men.id))
    with db.session() as s:
        members = {pid for pid, cid in s.execute(select(ProductCategory.product_id, ProductCategory.category_id))
                   if cid in subtree}
    expected = {p.id for p in rows.values() if p.category_id in subtree} | members
    got: list[int] = []
    for offset in range(0, 1000, 50):
        page = catalog.list_products(men.id, limit=50, offset=offset)
        assert page.total == len(expected)
        assert [c.id for c in page] == [c.id for c in page.items] and len(page) == len(page.items)
        got += [c.id for c in page.items]
        if len(page.items) < 50:
            break
    assert got == sorted(expected)
    black = catalog.list_products(colour="Black", limit=1000)
    assert black.total == sum(p.colour == "black" for p in rows.values()) == len(black.items)
    acme = catalog.list_products(brand="Acme", limit=1000)
    assert {c.sku for c in acme.items} == {"TEE-RED", "TEE-BLU"}
    active = catalog.list_products(active_only=True, limit=1000)
    assert active.total == sum(p.is_active for p in rows.values()) and "TR-1" not in {c.sku for c in active.items}
    with pytest.raises(NotFound):
        catalog.list_products(10**6)
    with pytest.raises(ValidationError):
        catalog.list_products(limit=5000)
    with pytest.raises(ValidationError):
        catalog.list_products(offset=-1)


def test_category_tree(catalog: Catalog, tree: dict[int, Category]):
    nodes = catalog.categories()
    assert {n.id for n in nodes} == set(tree)
    position = {n.id: i for i, n in enumerate(nodes)}
    for n in nodes:
        assert n.path == tree[n.id].path
        if n.parent_id is not None:
            assert position[n.parent_id] < position[n.id]  # parents first
            assert n.depth == next(m.depth for m in nodes if m.id == n.parent_id) + 1
        assert n.total == catalog.list_products(n.id, limit=1).total
        assert set(n.children) == {c.id for c in tree.values() if c.parent_id == n.id}
    jackets = catalog.category("Men / Tops / Jackets")
    assert catalog.category("Men/Tops/Jackets").id == jackets.id == catalog.category(jackets.id).id
    ancestors = catalog.category_ancestors(jackets.id)
    assert [tree[a].path for a in ancestors] == ["Men/Tops", "Men"]
    assert catalog.category_ancestors(jackets.id, include_self=True) == [jackets.id] + ancestors
    tops = catalog.category("Men/Tops")
    below = catalog.category_descendants(tops.id)
    assert below[0] == tops.id and jackets.id in below
    assert set(below) == {c.id for c in tree.values() if c.path == "Men/Tops" or c.path.startswith("Men/Tops/")}
    assert catalog.category_descendants(jackets.id, include_self=False) == []
    with pytest.raises(NotFound, match="no category with path"):
        catalog.category("Men/Robes")
    with pytest.raises(NotFound, match="no category with id"):
        catalog.category_ancestors(10**6)


def test_category_counts_are_counted_by_sql_and_kept_per_catalog_version(db: Database, catalog: Catalog,
                                                                          tree: dict[int, Category]):
    """Counts equal a count by hand; a second call runs only the version query; a product added under a
    category is counted on the next call (up its whole chain), and gone again once deleted."""
    with db.session() as s:
        primary = Counter(s.scalars(select(Product.category_id).where(Product.category_id.is_not(None))))
        members = Counter(s.scalars(select(ProductCategory.category_id)))
    first = catalog.categories()
    assert {n.id: n.products for n in first} == {c: primary.get(c, 0) for c in tree}
    assert {n.id: n.members for n in first} == {c: members.get(c, 0) for c in tree}
    seen, stop = _statements(db)
    try:
        again = catalog.categories()
    finally:
        stop()
    assert again == first and len(seen) == 1  # the version, nothing counted again
    jackets = catalog.category("Men/Tops/Jackets")
    chain = catalog.category_ancestors(jackets.id, include_self=True)
    before = {n.id: n.total for n in first}
    with db.session() as s:
        s.add(Product(sku="COUNT-ME", title="Counted jacket", category_id=jackets.id))
    after = {n.id: n.total for n in catalog.categories()}
    assert after == {c: before[c] + (c in chain) for c in before}
    with db.session() as s:
        s.delete(s.scalar(select(Product).where(Product.sku == "COUNT-ME")))
    assert {n.id: n.total for n in catalog.categories()} == before


def test_facets(catalog: Catalog, rows: dict[str, Product]):
    active = [p for p in rows.values() if p.is_active]
    colours = Counter(p.colour for p in active if p.colour)
    assert catalog.colours() == dict(sorted(colours.items(), key=lambda kv: (-kv[1], kv[0])))
    assert list(catalog.colours().values()) == sorted(catalog.colours().values(), reverse=True)
    assert catalog.colours(active_only=False)["black"] == colours["black"] + 1  # TR-1, inactive
    assert catalog.brands() == {"Acme": 2, "Заря": 1}
    assert catalog.price_range() == (min(p.price for p in active), max(p.price for p in active))
    assert catalog.price_range(active_only=False)[1] == max(p.price for p in rows.values())


def test_links(db: Database, catalog: Catalog):
    with db.session() as s:
        stored = s.execute(select(ProductLink.product_id, ProductLink.linked_id, ProductLink.kind)).all()
    for kind in ("upsell", "related", "crosssell"):
        links = catalog.links(kind)
        assert {(a, b) for a, ds in links.items() for b in ds} == {(a, b) for a, b, k in stored if k == kind}
    assert sum(len(v) for v in catalog.links().values()) == len({(a, b) for a, b, _ in stored})
    with pytest.raises(ValidationError, match="unknown link kind"):
        catalog.links("similar")


def test_stats(catalog: Catalog, rows: dict[str, Product], db: Database):
    st = catalog.stats()
    assert st.products == len(rows) == len(catalog.ids())
    assert st.active == sum(p.is_active for p in rows.values()) == len(catalog.ids(active_only=True))
    assert st.in_stock == sum(p.stock_qty > 0 for p in rows.values())
    assert st.per_source == {"magento": st.products - 5, "generic": 5}
    assert sum(st.per_category.values()) == sum(p.category_id is not None for p in rows.values())
    assert st.without_colour == sum(p.colour is None for p in rows.values())
    assert st.styles == len({p.group_key or p.sku for p in rows.values()})
    assert st.links == {k: sum(len(v) for v in catalog.links(k).values()) for k in ("upsell", "related", "crosssell")}
    assert st.with_images == st.products - 3  # TEE-BLU, RU-1 and TR-1 come without photos


def test_category_id_resolves_paths_labels_and_ids_without_counts(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    with db.session() as s:
        s.add_all([Category(id=1, name="Men", parent_id=None, path="Men"),
                   Category(id=2, name="Tops", parent_id=1, path="Men/Tops")])
    cat = Catalog(db)
    assert cat.category_id("Men/Tops") == cat.category_id("Men / Tops") == cat.category_id("Men > Tops") == 2
    assert cat.category_id(1) == 1
    with pytest.raises(NotFound):
        cat.category_id("Women")
    with pytest.raises(NotFound):
        cat.category_id(99)
    with pytest.raises(ValidationError):
        cat.category_id(1.5)
