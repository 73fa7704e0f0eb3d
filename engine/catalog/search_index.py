"""The structures catalog search runs on, made by every start of a database (engine.catalog.db) and kept in
step with `products` by the database itself:
- SQLite: a trigram FTS5 table `product_search` of each product's folded sku and title (engine.catalog.colours
  .fold), written by triggers through `vitrina_fold`, which engine.catalog.db registers on every connection,
  so whoever writes a product (importer, CLI, console, test) keeps the search table right;
- PostgreSQL: trigram GIN indexes (pg_trgm, where the server has it) on the same folded expressions the search
  queries use, lower() and translate() (engine.catalog.search).
"""
from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from engine.catalog.colours import _FOLD, fold

log = logging.getLogger(__name__)
FOLD_FUNCTION = "vitrina_fold"


def sql_fold(value: object) -> str:
    """`fold` for SQL (registered as vitrina_fold): NULL and numbers fold like their text."""
    return "" if value is None else fold(str(value))


def _sql_fold_map() -> tuple[str, str]:
    """`fold` as arguments of SQL translate(): the letters it makes equal (and their capitals, for a database
    whose lower() leaves them alone), then the marks it drops (translate deletes what has no counterpart)."""
    src, dst, drop = [], [], []
    for code, to in _FOLD.items():
        for c in dict.fromkeys((chr(code), chr(code).upper())):
            if len(c) == 1:
                (drop if to is None else src).append(c)
                if to is not None:
                    dst.append(to)
    src.append("İ")  # casefold gives i + U+0307, whose dot fold drops
    dst.append("i")
    return "".join(src + drop), "".join(dst)


SQL_FOLD_FROM, SQL_FOLD_TO = _sql_fold_map()


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def pg_folded_sql(column: str) -> str:
    """The folded expression as literal SQL: the trigram indexes are made on exactly this text, and a query
    matches an expression index only when its constants are the same literals (not bound parameters)."""
    return f"translate(lower({column}), {_quoted(SQL_FOLD_FROM)}, {_quoted(SQL_FOLD_TO)})"


_SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS product_search USING fts5(sku, title, tokenize='trigram case_sensitive 1')",
    f"""CREATE TRIGGER IF NOT EXISTS product_search_ai AFTER INSERT ON products BEGIN
        INSERT INTO product_search(rowid, sku, title) VALUES (new.id, {FOLD_FUNCTION}(new.sku),
                                                               {FOLD_FUNCTION}(new.title)); END""",
    """CREATE TRIGGER IF NOT EXISTS product_search_ad AFTER DELETE ON products BEGIN
        DELETE FROM product_search WHERE rowid = old.id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS product_search_au AFTER UPDATE OF id, sku, title ON products BEGIN
        DELETE FROM product_search WHERE rowid = old.id;
        INSERT INTO product_search(rowid, sku, title) VALUES (new.id, {FOLD_FUNCTION}(new.sku),
                                                               {FOLD_FUNCTION}(new.title)); END""",
)


def install_search(engine: Engine) -> None:
    """Create what the dialect searches with, once per database (every start checks): on SQLite the FTS5
    table, its triggers and the rows of the products already there (a database made before it); on
    PostgreSQL the trigram indexes, when pg_trgm can be had (without it the same SQL runs unindexed)."""
    if engine.dialect.name == "sqlite":
        _install_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        _install_pg(engine)


def _install_sqlite(engine: Engine) -> None:
    with engine.connect() as conn:
        have = {r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE name IN ('product_search', 'product_search_ai', "
            "'product_search_ad', 'product_search_au')"))}
    if len(have) == 4:
        return
    try:
        with engine.begin() as conn:  # table, triggers and backfill in one transaction: all or nothing
            for ddl in _SQLITE_DDL:
                conn.execute(text(ddl))
            conn.execute(text(f"INSERT INTO product_search(rowid, sku, title) SELECT id, {FOLD_FUNCTION}(sku), "
                              f"{FOLD_FUNCTION}(title) FROM products WHERE id NOT IN "
                              "(SELECT rowid FROM product_search)"))
    except DBAPIError:  # another process starting at the same moment made it: taken as done when complete
        with engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'product_search%' "
                                 "AND type IN ('table', 'trigger')")).scalar() < 4:
                raise


def _install_pg(engine: Engine) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as e:
        log.info("no pg_trgm on this PostgreSQL server (%s): catalog search runs without a trigram index", e)
        return
    for column in ("sku", "title"):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_products_search_{column} ON products "
                                  f"USING gin (({pg_folded_sql(column)}) gin_trgm_ops)"))
        except DBAPIError:  # made meanwhile by another process starting at once
            with engine.connect() as conn:
                if conn.execute(text("SELECT to_regclass(:n)"), {"n": f"ix_products_search_{column}"}).scalar() \
                        is None:
                    raise
