"""Catalog files as a hostile or careless shop exports them: whatever the cells of a CSV or the objects of a
JSONL file, an import either refuses the whole file with a ValidationError (nothing stored) or stores
exactly the products it reports and names the line of every row it rejects — never another exception."""
from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine.catalog.db import Database
from engine.catalog.importers import import_generic
from engine.catalog.models import Product
from engine.errors import ValidationError

COLUMNS = ["sku", "title", "price", "stock", "category", "colour", "brand", "description", "images", "attributes"]
CELL = (st.text(max_size=24) | st.integers(-2**80, 2**80).map(str)
        | st.sampled_from(["nan", "inf", "-1", "1e400", "19.90", "Men > Tops", "/etc/passwd", "../x.jpg", ""]))
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**80, 2**80) | st.floats() | st.text(max_size=16),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
HOSTILE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Database:
    return Database(f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.db'}")


def _products(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Product)).scalar_one())


def _check(db: Database, data: bytes, name: str) -> None:
    before = _products(db)
    try:
        report = import_generic(db, data, name=name)
    except ValidationError as e:
        assert str(e) and _products(db) == before  # a refused file changes nothing
        return
    assert _products(db) == before + report.created
    for reject in report.rejected:
        assert reject.line >= 1 and reject.message


@HOSTILE
@given(st.lists(st.lists(CELL, min_size=len(COLUMNS), max_size=len(COLUMNS)), min_size=1, max_size=8))
def test_any_csv_cells_import_or_are_refused_row_by_row(db, rows):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    _check(db, buf.getvalue().encode("utf-8", "surrogatepass"), "feed.csv")


@HOSTILE
@given(st.lists(st.dictionaries(st.sampled_from(COLUMNS), CELL | JSON, max_size=len(COLUMNS)), min_size=1, max_size=8))
def test_any_jsonl_objects_import_or_are_refused_row_by_row(db, objects):
    lines = [json.dumps(o, ensure_ascii=False, allow_nan=True) for o in objects]
    _check(db, "\n".join(lines).encode("utf-8", "surrogatepass"), "feed.jsonl")
