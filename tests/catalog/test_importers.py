"""Importers against the real Luma sample data and small hand-made files with known defects.

Expected values for Luma are derived here from the CSV files with the plain csv module, independently of
the importer; the hand-made files under tests/fixtures have their defects on known lines.
"""
from __future__ import annotations

import csv
import html
import io
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.orm import selectinload

from engine.catalog import Catalog, Database, ImportReport, import_generic, import_magento
from engine.catalog.colours import CANONICAL, normalise_colour
from engine.catalog.models import Category, Product, ProductCategory, ProductImage, ProductLink
from engine.errors import NotFound, ValidationError

FIXTURES = Path(__file__).parents[1] / "fixtures"
TABLES = (Product, ProductImage, ProductLink, Category, ProductCategory)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _table_counts(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) for t in TABLES}


def _updated_at(db: Database) -> dict[str, datetime]:
    with db.session() as s:
        return dict(s.execute(select(Product.sku, Product.updated_at)).all())


def _products(db: Database) -> dict[str, Product]:
    with db.session() as s:
        return {p.sku: p for p in s.scalars(select(Product).options(
            selectinload(Product.images), selectinload(Product.categories), selectinload(Product.category)))}


def _extra(additional: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in additional.split(",") if "=" in kv)


# ------------------------------------------------------------------------------------------------ Luma
@dataclass
class LumaRun:
    db: Database
    first: ImportReport
    second: ImportReport
    counts_before: dict[str, int]
    counts_after: dict[str, int]
    updated_before: dict[str, datetime]
    updated_after: dict[str, datetime]
    progress: list[tuple[int, int]]


@pytest.fixture(scope="module")
def luma(luma_dir: Path, tmp_path_factory) -> LumaRun:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('luma') / 'catalog.db'}")
    calls: list[tuple[int, int]] = []
    first = import_magento(db, luma_dir, progress=lambda done, total: calls.append((done, total)))
    counts, updated = _table_counts(db), _updated_at(db)
    second = import_magento(db, luma_dir)
    return LumaRun(db, first, second, counts, _table_counts(db), updated, _updated_at(db), calls)


@pytest.fixture(scope="module")
def luma_files(luma_dir: Path) -> dict:
    """What the files say, read with the csv module: style-colour variants, styles, gear."""
    fx = luma_dir / "fixtures"
    rows = _rows(fx / "ConfigurableSampleData" / "products.csv")
    styles = {r["sku"]: r for r in rows if r["product_type"] == "configurable"}
    variants: dict[str, list[dict]] = defaultdict(list)
    for style in styles.values():
        for part in style["configurable_variations"].split("|"):
            info = _extra(part)
            variants[style["sku"]].append(info)
    simple = {r["sku"]: r for r in rows if r["product_type"] == "simple"}
    items: dict[str, dict] = {}
    for style_sku, vs in variants.items():
        for v in vs:
            row = simple[v["sku"]]
            item = items.setdefault(f"{style_sku}-{v['color']}", {"style": style_sku, "qty": 0, "color": v["color"],
                                                                    "base": row["base_image"]})
            item["qty"] += int(float(row["qty"]))
    gear = {}
    for path in sorted((fx / "CatalogSampleData" / "SimpleProduct").glob("products_*.csv")):
        for r in _rows(path):
            gear[r["sku"]] = r
    return {"styles": styles, "items": items, "gear": gear, "fixtures": fx}


def test_luma_counts(luma: LumaRun, luma_files: dict):
    rep = luma.first
    assert rep.rejected == []
    assert len(luma_files["styles"]) == 147  # as the dataset README states
    assert rep.created == len(luma_files["items"]) + len(luma_files["gear"])
    assert rep.stats["products"] == rep.created
    gear_groups = {sku.rsplit("-", 1)[0] if r.get("color") else sku for sku, r in luma_files["gear"].items()}
    assert rep.stats["styles"] == len(luma_files["styles"]) + len(gear_groups)
    assert rep.stats["images"] == luma.counts_before["product_images"]
    assert 0 < rep.seconds < 60
    cats = {p for f in luma_files["fixtures"].glob("*/categories.csv") for p in
            ("/".join(filter(None, [r["path"], r["name"]])) for r in _rows(f))}
    with luma.db.session() as s:
        stored = set(s.scalars(select(Category.path)))
    assert cats <= stored


def test_luma_every_product_has_its_main_photo(luma: LumaRun, luma_files: dict):
    products = _products(luma.db)
    for sku, p in products.items():
        assert p.images, sku
        assert [im.role for im in p.images].count("main") == 1 and p.images[0].role == "main", sku
        assert [im.position for im in p.images] == list(range(len(p.images)))
        assert all(Path(im.path).is_absolute() and Path(im.path).is_file() for im in p.images), sku
    media = luma_files["fixtures"].parent / "media" / "catalog" / "product"
    for sku, item in luma_files["items"].items():
        assert products[sku].images[0].path == str((media / item["base"].lstrip("/")).resolve())


def test_luma_apparel_is_one_product_per_style_and_colour(luma: LumaRun, luma_files: dict):
    products = _products(luma.db)
    for sku, item in luma_files["items"].items():
        p = products[sku]
        style = luma_files["styles"][item["style"]]
        assert p.group_key == item["style"]
        assert p.title == html.unescape(style["name"].strip())  # no "-XS-Black" suffix; entities decoded
        assert p.colour == normalise_colour(item["color"]) and p.colour in CANONICAL
        assert p.stock_qty == item["qty"]
        assert p.price == float(style["price"])
        assert p.description and "<" not in p.description and "&bull;" not in p.description
        assert p.language == "en" and p.brand_id is None and p.source == "magento"


def test_luma_categories_primary_and_collections(luma: LumaRun, luma_files: dict):
    products = _products(luma.db)
    for sku, item in luma_files["items"].items():
        cell = luma_files["styles"][item["style"]]["categories"]
        paths = [c.removeprefix("Default Category/") for c in cell.split(",") if c != "Default Category"]
        department = [c for c in paths if c.split("/")[0] in ("Men", "Women")]
        p = products[sku]
        assert p.category.path == max(department, key=lambda c: c.count("/"))
        assert {c.path for c in p.categories} == set(paths)
    bag = products["24-MB04"]  # "Gear\nBags\nCollections\nErin Recommends"
    assert bag.category.path == "Gear/Bags"
    assert {c.path for c in bag.categories} == {"Gear/Bags", "Collections/Erin Recommends"}


def test_luma_gear_and_skipped_sets(luma: LumaRun, luma_files: dict):
    products = _products(luma.db)
    for sku, r in luma_files["gear"].items():
        p = products[sku]
        assert p.title == r["name"].replace("&trade;", "™").strip()
        assert p.category.path == "/".join(r["category"].splitlines()[:2])
        if r.get("color"):
            assert p.colour == normalise_colour(r["color"]) and p.group_key == sku.rsplit("-", 1)[0]
        else:
            assert p.group_key == sku
    joined = "\n".join(luma.first.warnings)
    assert "24-WG080" in joined and "24-WG085_Group" in joined  # the bundle and the grouped set
    assert "24-WG080" not in products and "24-WG085_Group" not in products


def test_luma_upsell_links_land_product_to_product(luma: LumaRun, luma_files: dict):
    fx = luma_files["fixtures"]
    expected: set[tuple[str, str]] = set()
    for r in _rows(fx / "ConfigurableSampleData" / "Links" / "upsell.csv"):
        expected |= {(r["sku"], t.strip()) for t in r["linked_sku"].splitlines() if t.strip()}
    products = _products(luma.db)
    group = {p.id: p.group_key for p in products.values()}
    variants = defaultdict(set)
    for p in products.values():
        variants[p.group_key].add(p.id)
    links = Catalog(luma.db).links("upsell")
    got = {(group[a], group[b]) for a, dests in links.items() for b in dests if group[a] in luma_files["styles"]}
    assert got == expected
    for src, dst in expected:  # every colour of the source style to every colour of the linked one
        for a in variants[src]:
            assert variants[dst] <= links[a]
    assert luma.first.stats["links_upsell"] == sum(len(v) for v in links.values())
    assert luma.first.stats["links_related"] > 0 and luma.first.stats["links_crosssell"] > 0


def test_luma_reimport_is_idempotent(luma: LumaRun):
    rep = luma.second
    assert (rep.created, rep.updated, rep.unchanged) == (0, 0, luma.first.created)
    assert (rep.links_created, rep.links_removed, rep.categories_created) == (0, 0, 0)
    assert luma.counts_after == luma.counts_before
    assert luma.updated_after == luma.updated_before


def test_luma_progress_reaches_the_total(luma: LumaRun):
    calls = luma.progress
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1] > luma.first.created
    assert all(a[0] <= b[0] and a[1] == b[1] for a, b in zip(calls, calls[1:]))


# ----------------------------------------------------------------------------------- small Magento set
MINI_PHOTOS = ("m/x/mx01-red_main.jpg", "m/x/mx01-red_alt1.jpg", "m/x/mx01-red_back.jpg",
               "m/x/mx02-black_main.jpg", "t/b/tb01-bk-0.jpg", "t/b/tb03-pink.jpg")  # mx01-blue_main.jpg, zz99.jpg absent


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    folder = tmp_path / "mini"
    shutil.copytree(FIXTURES / "magento-mini", folder)
    for rel in MINI_PHOTOS:
        path = folder / "media" / "catalog" / "product" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (120, 30, 30)).save(path)
    return folder


def test_magento_bad_rows_are_rejected_with_their_real_line(mini: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    rep = import_magento(db, mini)
    assert {(e.file, e.line) for e in rep.rejected} == {
        ("ConfigurableSampleData/products.csv", 5),  # qty "lots" (the record before it spans lines 2-3)
        ("ConfigurableSampleData/products.csv", 9),  # price "free"
        ("CatalogSampleData/SimpleProduct/products_gear_test.csv", 7),  # negative price, after a 5-line record
    }
    assert set(_products(db)) == {"MX01-Red", "MX01-Blue", "MX02-Black", "24-TB01", "24-TB03-pink"}
    assert rep.created == 5
    warnings = "\n".join(rep.warnings)
    assert "ConfigurableSampleData/products.csv:6: photo /m/x/mx01-blue_main.jpg not found" in warnings
    assert "virtual product MX03 skipped" in warnings
    assert "24-KIT1" in warnings and "NOPE-1" in warnings and "24-ZZ99" in warnings


def test_magento_variants_merge_into_colour_items(mini: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    import_magento(db, mini)
    p = _products(db)
    red, blue, pant = p["MX01-Red"], p["MX01-Blue"], p["MX02-Black"]
    assert (red.title, red.group_key, red.colour, red.stock_qty) == ("Trail Tee", "MX01", "red", 5 + 7)
    assert [(Path(im.path).name, im.role) for im in red.images] == [
        ("mx01-red_main.jpg", "main"), ("mx01-red_alt1.jpg", "alt"), ("mx01-red_back.jpg", "back")]
    assert red.description == "Light tee for long trails.\nCotton & linen."
    assert red.attributes["material"] == ["Cotton", "Linen"] and red.attributes["sizes"] == ["S", "M"]
    assert {c.path for c in red.categories} == {"Men/Tops/Tees", "Collections/Eco Friendly"}
    assert blue.stock_qty == 3 and blue.images == []  # its S row was rejected, its photo is missing
    assert pant.stock_qty == 4 and pant.category.path == "Women/Bottoms/Pants"
    bag, ball = p["24-TB01"], p["24-TB03-pink"]
    assert bag.title == "Trail Bag™" and bag.colour == "black"  # "bk" in the photo name
    assert {c.path for c in bag.categories} == {"Gear/Bags", "Collections/Eco Friendly"}
    assert bag.attributes["activity"] == ["Hiking", "Travel"]
    assert ball.colour == "red" and ball.group_key == "24-TB03"


def test_magento_links_expand_styles_and_skip_unknown(mini: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    rep = import_magento(db, mini)
    by_id = {p.id: p.sku for p in _products(db).values()}
    cat = Catalog(db)
    named = lambda links: {(by_id[a], by_id[b]) for a, ds in links.items() for b in ds}  # noqa: E731
    assert named(cat.links("upsell")) == {("MX01-Red", "MX02-Black"), ("MX01-Blue", "MX02-Black")}
    assert named(cat.links("crosssell")) == {("24-TB01", "24-TB03-pink"), ("24-TB01", "MX01-Red"),
                                             ("24-TB01", "MX01-Blue")}
    assert rep.links_created == 5


def test_magento_reimport_updates_in_place(mini: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    import_magento(db, mini)
    ids, before = {s: p.id for s, p in _products(db).items()}, _updated_at(db)
    products = mini / "fixtures" / "ConfigurableSampleData" / "products.csv"
    products.write_text(products.read_text().replace("Summit Pant-M-Black,,30,", "Summit Pant-M-Black,,35,"))
    (mini / "fixtures" / "ConfigurableSampleData" / "Links" / "upsell.csv").write_text("sku,linked_sku\n")
    rep = import_magento(db, mini)
    assert (rep.created, rep.updated, rep.unchanged) == (0, 1, 4)
    assert (rep.links_created, rep.links_removed) == (0, 0)  # an empty file names no source: links stay
    after = _products(db)
    assert {s: p.id for s, p in after.items()} == ids
    assert after["MX02-Black"].price == 35.0
    changed = {s for s, t in _updated_at(db).items() if t != before[s]}
    assert changed == {"MX02-Black"}
    (mini / "fixtures" / "ConfigurableSampleData" / "Links" / "upsell.csv").write_text(
        'sku,linked_sku\n"MX01","NOPE-1"\n')
    rep = import_magento(db, mini)
    assert (rep.links_created, rep.links_removed) == (0, 2)  # MX01 now links to nothing known
    assert Catalog(db).links("upsell") == {}


def test_magento_folder_errors(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    with pytest.raises(NotFound, match="does not exist"):
        import_magento(db, tmp_path / "nowhere")
    with pytest.raises(ValidationError, match="not a Magento sample-data folder"):
        import_magento(db, tmp_path)


# ------------------------------------------------------------------------------------------- generic
@pytest.fixture()
def generic_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "feed"
    shutil.copytree(FIXTURES / "generic", folder)
    (folder / "photos").mkdir()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(folder / "photos" / "tee.jpg")  # photos/missing.jpg stays absent
    return folder


CSV_REJECTED = [5, 6, 7, 8, 9, 10, 11, 14, 15, 17]
JSONL_REJECTED = [4, 5, 6, 7, 8, 10, 11]


def test_generic_csv_good_and_bad_rows(generic_dir: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    rep = import_generic(db, generic_dir / "products.csv")
    assert [e.line for e in rep.rejected] == CSV_REJECTED
    assert all(e.file == "products.csv" for e in rep.rejected)
    messages = {e.line: e.message for e in rep.rejected}
    assert "missing sku" in messages[5] and "number" in messages[6] and "negative" in messages[7]
    assert "finite" in messages[8] and "ISO 8601" in messages[9] and "maybe" in messages[10]
    assert "expected 15 columns, got 3" in messages[11] and "repeats line 2" in messages[14]
    assert "xx" in messages[15] and "missing title" in messages[17]
    assert rep.created == 5 and rep.warnings == ["products.csv:2: photo photos/missing.jpg not found, skipped"]

    p = _products(db)
    assert set(p) == {"TEE-RED", "TEE-BLU", "RU-1", "TR-1", "MUG-1"}
    tee = p["TEE-RED"]
    assert (tee.colour, tee.cost, tee.stock_qty, tee.group_key) == ("red", 8.5, 10, "TEE")
    assert tee.description == "Soft cotton tee.\nMachine wash."
    assert tee.created_at == datetime(2024, 3, 1, 7, 0)  # +03:00 stored as UTC
    assert [im.path for im in tee.images] == [str((generic_dir / "photos" / "tee.jpg").resolve())]
    assert tee.category.path == "Women/Tops/Tees" and tee.attributes == {"material": "cotton"}
    assert p["TEE-BLU"].price == 1299.5 and p["TEE-BLU"].colour == "blue"  # "1 299,50", "Navy"
    assert p["TEE-BLU"].category_id == tee.category_id  # "/" and " > " paths meet in one category
    assert (p["RU-1"].colour, p["RU-1"].language) == ("red", "ru")
    assert (p["TR-1"].colour, p["TR-1"].language, p["TR-1"].is_active) == ("black", "tr", False)
    assert p["MUG-1"].colour == "green"  # from the description
    assert p["MUG-1"].images[0].path == "https://cdn.example.com/mug.jpg"
    with db.session() as s:  # the rejected BAD-DATE row named brand Phantom and category Ghost > Town
        assert s.scalar(select(Category).where(Category.path.like("Ghost%"))) is None
        assert s.execute(text("select count(*) from brands where name = 'Phantom'")).scalar() == 0


def test_generic_jsonl_good_and_bad_lines(generic_dir: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    rep = import_generic(db, generic_dir / "products.jsonl")
    assert [e.line for e in rep.rejected] == JSONL_REJECTED
    messages = {e.line: e.message for e in rep.rejected}
    assert "malformed JSON" in messages[4] and "JSON object" in messages[5] and "finite" in messages[6]
    p = _products(db)
    assert set(p) == {"J-1", "J-2", "J-7", "J-10"}
    j1 = p["J-1"]
    assert [(im.path.rsplit("/", 1)[-1], im.role) for im in j1.images] == [("tee.jpg", "main"), ("j1.jpg", "alt")]
    assert j1.attributes == {"fit": "slim"} and j1.category.path == "Men/Jackets" and j1.colour == "blue"
    j2 = p["J-2"]
    assert (j2.price, j2.is_active, j2.colour, j2.language) == (120.0, False, "red", "tr")
    assert j2.created_at == datetime(2023, 12, 31)
    assert (p["J-7"].colour, p["J-7"].language) == ("black", "ru")
    j10 = p["J-10"]  # aliases: name, color, qty
    assert (j10.title, j10.colour, j10.stock_qty) == ("Lacivert gömlek", "blue", 2)


def test_generic_reimport_is_idempotent_and_partial_updates_keep_the_rest(generic_dir: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    import_generic(db, generic_dir / "products.csv")
    counts, before = _table_counts(db), _updated_at(db)
    again = import_generic(db, generic_dir / "products.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert _table_counts(db) == counts and _updated_at(db) == before

    feed = generic_dir / "prices.csv"
    feed.write_text("sku,title,price\nTEE-RED,Red cotton tee,24.50\nTEE-BLU,Cotton tee,1299.5\n")
    rep = import_generic(db, feed)
    assert (rep.created, rep.updated, rep.unchanged) == (0, 1, 1)
    tee = _products(db)["TEE-RED"]
    assert tee.price == 24.5 and tee.cost == 8.5 and tee.stock_qty == 10 and len(tee.images) == 1
    assert tee.category.path == "Women/Tops/Tees" and tee.attributes == {"material": "cotton"}
    assert {s for s, t in _updated_at(db).items() if t != before[s]} == {"TEE-RED"}

    feed.write_text("sku,title,price,cost,material\nTEE-RED,Red cotton tee,24.50,,\n")
    import_generic(db, feed)
    tee = _products(db)["TEE-RED"]
    assert tee.cost is None and tee.attributes == {}  # empty cells clear


def test_generic_accepts_bytes_and_uploads(generic_dir: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    rep = import_generic(db, (generic_dir / "products.csv").read_bytes(), name="products.csv")
    assert [e.line for e in rep.rejected] == CSV_REJECTED and rep.created == 5
    assert all("cannot be resolved" in w for w in rep.warnings) and len(rep.warnings) == 2
    upload = io.BytesIO((generic_dir / "products.jsonl").read_bytes())
    upload.name = "feed.jsonl"
    rep = import_generic(db, upload, base_dir=generic_dir)
    assert [e.line for e in rep.rejected] == JSONL_REJECTED and rep.created == 4 and rep.files == ["feed.jsonl"]
    assert _products(db)["J-1"].images[0].path == str((generic_dir / "photos" / "tee.jpg").resolve())
    rep = import_generic(db, b'{"sku": "S-1", "title": "Sniffed", "price": 1}\n')  # no name: sniffed as JSONL
    assert rep.created == 1


def test_generic_semicolon_csv_with_decimal_commas(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    rep = import_generic(db, "sku;Name;Price;Color\nA-1;Юбка миди;1 499,00;Чёрный\n".encode(), name="ru.csv")
    p = _products(db)["A-1"]
    assert rep.created == 1 and (p.title, p.price, p.colour, p.language) == ("Юбка миди", 1499.0, "black", "ru")


def test_generic_file_level_errors_write_nothing(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    with pytest.raises(ValidationError, match="missing required column"):
        import_generic(db, b"sku,title\nA,Thing\n", name="x.csv")
    with pytest.raises(ValidationError, match="line 2"):
        import_generic(db, b"sku,title,price\nA,\xff\xfe,1\n", name="x.csv")
    with pytest.raises(ValidationError, match="unsupported file type"):
        import_generic(db, b"sku,title,price\n", name="x.xlsx")
    with pytest.raises(NotFound):
        import_generic(db, tmp_path / "absent.csv")
    assert _table_counts(db)["products"] == 0


def test_generic_row_the_database_refuses_leaves_nothing(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    with db.engine.begin() as conn:  # a real constraint the importer's validation knows nothing about
        conn.execute(text("CREATE TRIGGER no_boom BEFORE INSERT ON products WHEN NEW.sku = 'BOOM' "
                          "BEGIN SELECT RAISE(ABORT, 'sku BOOM is reserved'); END"))
    data = b"sku,title,price,category\nA,Red a,1,X > Y\nBOOM,Boom,2,Ghost > Town\nC,Blue c,3,X > Z\n"
    rep = import_generic(db, data, name="x.csv")
    assert [(e.line, "reserved" in e.message) for e in rep.rejected] == [(3, True)]
    assert set(_products(db)) == {"A", "C"} and rep.created == 2
    with db.session() as s:
        assert set(s.scalars(select(Category.path))) == {"X", "X/Y", "X/Z"}
    assert rep.categories_created == 3


def test_generic_progress(generic_dir: Path, tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    calls: list[tuple[int, int]] = []
    import_generic(db, generic_dir / "products.csv", progress=lambda d, t: calls.append((d, t)), batch_size=2)
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_generic_windows_line_endings_and_bom_keep_line_numbers(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    data = '\ufeffsku,title,price\r\nA,"Two-line\r\ntitle",1\r\nB,Bad,x\r\n'.encode()
    rep = import_generic(db, data, name="windows.csv")
    assert [(e.line, e.file) for e in rep.rejected] == [(4, "windows.csv")]
    assert _products(db)["A"].title == "Two-line\r\ntitle"
