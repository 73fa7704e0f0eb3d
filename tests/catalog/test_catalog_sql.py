"""Category counts and catalog search done by the database, on SQLite and on a real PostgreSQL server
(tests/pg_server.py): the same catalog gives the same counts and the same ranked hits on both, and each
dialect's search structure (SQLite's FTS5 table, PostgreSQL's trigram indexes) is in place and used."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, text

from engine.catalog import Catalog, Database, import_generic, import_magento
from engine.catalog.colours import fold
from engine.catalog.models import Product, ProductCategory
from pg_server import postgres_server  # noqa: F401  (session fixture)

FIXTURES = Path(__file__).parents[1] / "fixtures"
NEEDLES = ["jacket", "MH01", "tee", "e", "ja", "ПЛАТЬЕ", "черн", "KIRMIZI", "SİYAH", "50%", "off_n", "zzz"]


def _fill(db: Database, luma_dir: Path, feed: Path) -> Database:
    assert import_magento(db, luma_dir).rejected == []
    import_generic(db, feed / "products.csv")
    with db.session() as s:  # names only folding finds, and LIKE's own wildcards
        s.add_all([Product(sku="RU-9", title="Чёрное Платье"), Product(sku="TR-9", title="KIRMIZI Çanta"),
                   Product(sku="EN-9", title="50% off_now", is_active=False)])
    return db


@pytest.fixture(scope="module")
def catalogs(luma_dir, tmp_path_factory, postgres_server) -> tuple[Catalog, Catalog]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("catalog-sql")
    shutil.copytree(FIXTURES / "generic", tmp / "feed")
    lite = _fill(Database(f"sqlite:///{tmp / 'lite.db'}"), luma_dir, tmp / "feed")
    pg = _fill(Database(postgres_server.create_database("catalog_sql")), luma_dir, tmp / "feed")
    return Catalog(lite), Catalog(pg)


def _by_hand(db: Database) -> dict[str, int]:
    """Distinct products under each category path (primary category or membership, whole subtree)."""
    with db.session() as s:
        from engine.catalog.models import Category
        path = dict(s.execute(select(Category.id, Category.path)).all())
        pairs = s.execute(select(Product.id, Product.category_id).where(Product.category_id.is_not(None))).all()
        pairs += s.execute(select(ProductCategory.product_id, ProductCategory.category_id)).all()
    under: dict[str, set[int]] = {p: set() for p in path.values()}
    for pid, cid in pairs:
        parts = path[cid].split("/")
        for i in range(1, len(parts) + 1):
            under["/".join(parts[:i])].add(pid)
    return {p: len(ids) for p, ids in under.items()}


def test_category_counts_agree_on_both_databases_and_with_a_count_by_hand(catalogs):
    lite, pg = catalogs
    for catalog in (lite, pg):
        nodes = catalog.categories()
        assert {n.path: n.total for n in nodes} == _by_hand(catalog.db)
        assert all(n.total == catalog.list_products(n.id, limit=1).total for n in nodes)
    shape = lambda c: [(n.path, n.depth, n.products, n.members, n.total) for n in c.categories()]  # noqa: E731
    assert shape(lite) == shape(pg)


@pytest.mark.parametrize("active_only", [False, True])
def test_search_ranks_alike_on_both_databases_and_as_folding_would(catalogs, active_only: bool):
    lite, pg = catalogs
    with lite.db.session() as s:
        rows = [(p.id, p.sku, p.title, p.is_active) for p in s.scalars(select(Product))]
    sku_of = {pid: sku for pid, sku, _, _ in rows}
    for needle in NEEDLES:
        want = fold(needle)
        ranked = sorted((0 if fold(sku) == want else 1 if fold(sku).startswith(want) else
                         2 if fold(title).startswith(want) else 3, fold(title), pid)
                        for pid, sku, title, active in rows
                        if (want in fold(sku) or want in fold(title)) and (active or not active_only))
        expected = [sku_of[pid] for _, _, pid in ranked][:50]
        assert [c.sku for c in lite.search(needle, limit=50, active_only=active_only)] == expected, needle
        assert [c.sku for c in pg.search(needle, limit=50, active_only=active_only)] == expected, needle


def test_sqlite_answers_from_the_fts_table(catalogs):
    lite, _ = catalogs
    with lite.db.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT rowid FROM product_search WHERE product_search MATCH '\"jacket\"'")))
        assert "VIRTUAL TABLE INDEX" in plan, plan
        n = conn.execute(text("SELECT count(*) FROM product_search")).scalar()
    assert n == len(lite.ids())


def test_postgresql_has_trigram_indexes_its_search_can_use(catalogs):
    _, pg = catalogs
    with pg.db.engine.connect() as conn:
        available = conn.execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
        names = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'products'"))}
        if not available:
            assert not {"ix_products_search_sku", "ix_products_search_title"} & names
            pytest.skip("this PostgreSQL server has no pg_trgm: search runs unindexed")
        assert {"ix_products_search_sku", "ix_products_search_title"} <= names
        conn.execute(text("SET enable_seqscan = off"))  # a tiny table: make the planner show it can use them
        statements = []
        from sqlalchemy import event

        def seen(conn_, cursor, statement, params, context, executemany):
            statements.append((statement, params))
        event.listen(pg.db.engine, "before_cursor_execute", seen)
        try:
            pg.search("jacket", limit=5)
        finally:
            event.remove(pg.db.engine, "before_cursor_execute", seen)
        statement, params = next((s, p) for s, p in statements if "translate" in s)
        plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
    assert "ix_products_search_" in plan, plan
