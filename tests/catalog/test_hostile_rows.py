"""Catalog files written to break the importer: each bad row is rejected with its line and the reason, the
good rows import, and a bad row leaves nothing of itself behind; a systemic error still stops the import.
Also the header checks stay linear on a header of 100,000 columns."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from engine.catalog import Database, import_generic
from engine.catalog.importers import ImportReport, ProductData
from engine.catalog.importers.common import Ticker
from engine.catalog.importers.writer import write_products
from engine.catalog.models import Product
from engine.errors import ValidationError


CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "catalog"


@pytest.fixture()
def db(tmp_path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'c.db'}")


def skus(db: Database) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(Product.sku)))


def test_jsonl_bad_rows_are_rejected_one_by_one(db):
    rep = import_generic(db, (CORPUS / "hostile.jsonl").read_bytes(), name="hostile.jsonl")
    reasons = {e.line: e.message for e in rep.rejected}
    assert sorted(reasons) == list(range(2, 12))
    assert "stock must be at most 2147483647" in reasons[2]
    assert "lone surrogate" in reasons[3] and "title" in reasons[3]
    assert "NUL" in reasons[4]
    assert "nests deeper than 64 levels (VITRINA_MAX_DOCUMENT_DEPTH)" in reasons[5]
    assert "nests deeper than 64 levels (VITRINA_MAX_DOCUMENT_DEPTH)" in reasons[6]
    assert "finite" in reasons[7] and "finite" in reasons[8]
    assert "finite" in reasons[9]
    assert "digits" in reasons[10]
    assert "lone surrogate" in reasons[11] and "column name" in reasons[11]
    assert skus(db) == {"GOOD-1", "GOOD-2"} and rep.created == 2
    for e in rep.rejected:  # every message can be printed and stored as UTF-8
        str(e).encode("utf-8")


def test_csv_bad_rows_are_rejected_one_by_one(db):
    rep = import_generic(db, (CORPUS / "hostile.csv").read_bytes(), name="hostile.csv")
    reasons = {e.line: e.message for e in rep.rejected}
    assert sorted(reasons) == [3, 4, 5]
    assert "at most 2147483647" in reasons[3] and "NUL" in reasons[4] and "finite" in reasons[5]
    assert skus(db) == {"A", "B"}


def test_the_writer_rejects_unstorable_products_from_any_importer(db):
    """The last line of defence for every importer (Magento builds ProductData too): a product the databases
    cannot store is that product's reject, the others of its batch land."""
    items = [ProductData("A", "Fine", 1.0, file="f", line=1),
             ProductData("B", "Lone \ud800", 1.0, file="f", line=2),
             ProductData("C", "Fine too", 1.0, attributes={"size": "M\x00"}, file="f", line=3),
             ProductData("D", "Overflow", 1.0, stock_qty=2 ** 40, file="f", line=4),
             ProductData("E", "Fine three", 1.0, file="f", line=5)]
    rep = ImportReport("test")
    write_products(db, items, "test", rep, Ticker(None, len(items)), batch_size=10)
    assert [(e.line, ok) for e, ok in zip(rep.rejected, ("surrogate", "NUL", "outside"))
            if ok in e.message] == [(2, "surrogate"), (3, "NUL"), (4, "outside")]
    assert skus(db) == {"A", "E"} and rep.created == 2


def test_a_systemic_database_error_stops_the_import(db):
    import_generic(db, b"sku,title,price\nA,Red tee,1\n", name="a.csv")
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE brands"))
    with pytest.raises(OperationalError):
        import_generic(db, b"sku,title,price\nB,Blue tee,1\nC,Green tee,2\n", name="b.csv")
    assert skus(db) == {"A"}


def test_a_header_of_100000_columns_is_checked_in_one_pass(db):
    """The duplicate-column check counted each name across the whole header: quadratic, it hung."""
    names = ["sku", "title", "price"] + [f"c{i}" for i in range(100_000)] + ["c7"]
    with pytest.raises(ValidationError, match=r"duplicate column\(s\) c7") as e:
        import_generic(db, (",".join(names) + "\n").encode(), name="wide.csv")
    assert len(str(e.value)) < 500
    names = [f"c{i}" for i in range(100_000)] + ["sku"]
    with pytest.raises(ValidationError, match=r"missing required column\(s\) title, price") as e:
        import_generic(db, (",".join(names) + "\n").encode(), name="wide.csv")
    assert "more)" in str(e.value) and len(str(e.value)) < 1000
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Product)) == 0


def test_prices_over_the_configured_maximum_are_rejected_naming_the_setting(db, monkeypatch):
    monkeypatch.setenv("VITRINA_MAX_PRICE", "5000")
    feed = ("sku,title,price,cost\nOK-1,Fair price,4999.99,\nHUGE-1,Typo price,4999900,\n"
            "HUGE-2,Typo cost,10,90000\n").encode()
    report = import_generic(db, feed, name="prices.csv")
    assert report.created == 1
    assert [(r.line, r.message) for r in report.rejected] == [
        (3, "HUGE-1: price '4999900' is over the largest accepted 5,000.00 (VITRINA_MAX_PRICE)"),
        (4, "HUGE-2: cost '90000' is over the largest accepted 5,000.00 (VITRINA_MAX_PRICE)")]
