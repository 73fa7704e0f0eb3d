"""Finding products by sku or title text, folded the way engine.catalog.colours.fold folds: case, ё/е,
the Turkish dotted and dotless i and marks, so "черный" finds "Чёрный" and "KIRMIZI" finds "Kırmızı".

Each dialect gets the query that folds best there: PostgreSQL folds in SQL with lower() and translate(),
SQLite (whose lower() knows only ASCII) is scanned here in Python, and any other database falls back to
ILIKE. All rank alike: exact sku, sku prefix, title prefix, then the rest by title.
"""
from __future__ import annotations

from sqlalchemy import case, func, or_, select

from engine.catalog.colours import _FOLD, fold
from engine.catalog.db import Database
from engine.catalog.models import Product


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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


_SQL_FOLD_FROM, _SQL_FOLD_TO = _sql_fold_map()


def _folded(column):
    """fold() in PostgreSQL: lower() for case, translate() for ё/е, the Turkish i's and letters."""
    return func.translate(func.lower(column), _SQL_FOLD_FROM, _SQL_FOLD_TO)


def search_ids(db: Database, needle: str, limit: int, active_only: bool) -> list[int]:
    """Ids of the products matching `needle` (stripped, non-empty), best first, at most `limit`."""
    dialect = db.engine.dialect.name
    search = search_folded if dialect == "sqlite" else search_pg if dialect == "postgresql" else search_sql
    return search(db, needle, limit, active_only)


def search_pg(db: Database, needle: str, limit: int, active_only: bool) -> list[int]:
    """PostgreSQL matches and ranks on the same folded text as `search_folded` (ILIKE alone misses
    "чёрный" for "черный" and "Kırmızı" for "KIRMIZI"), ordered by code point as Python sorts."""
    want = fold(needle)
    escaped = _escape_like(want)
    sku, title = _folded(Product.sku), _folded(Product.title)
    rank = case((sku == want, 0), (sku.like(f"{escaped}%", escape="\\"), 1),
                (title.like(f"{escaped}%", escape="\\"), 2), else_=3)
    q = (select(Product.id)
         .where(or_(sku.like(f"%{escaped}%", escape="\\"), title.like(f"%{escaped}%", escape="\\")))
         .order_by(rank, title.collate("C"), Product.id).limit(limit))
    if active_only:
        q = q.where(Product.is_active.is_(True))
    with db.session() as s:
        return list(s.scalars(q))


def search_sql(db: Database, needle: str, limit: int, active_only: bool) -> list[int]:
    """Any other database: ILIKE, which folds case as far as that database knows letters, and no further."""
    escaped = _escape_like(needle)
    rank = case((func.lower(Product.sku) == needle.lower(), 0),
                (Product.sku.ilike(f"{escaped}%", escape="\\"), 1),
                (Product.title.ilike(f"{escaped}%", escape="\\"), 2), else_=3)
    q = (select(Product.id)
         .where(or_(Product.sku.ilike(f"%{escaped}%", escape="\\"),
                    Product.title.ilike(f"%{escaped}%", escape="\\")))
         .order_by(rank, Product.title, Product.id).limit(limit))
    if active_only:
        q = q.where(Product.is_active.is_(True))
    with db.session() as s:
        return list(s.scalars(q))


def search_folded(db: Database, needle: str, limit: int, active_only: bool) -> list[int]:
    """SQLite folds only ASCII case ("siyah" would miss "SİYAH", "платье" miss "Платье"), so on SQLite
    sku and title are matched here on folded text; one pass over three columns."""
    want = fold(needle)
    q = select(Product.id, Product.sku, Product.title)
    if active_only:
        q = q.where(Product.is_active.is_(True))
    hits: list[tuple[int, str, int]] = []
    with db.session() as s:
        for pid, sku, title in s.execute(q):
            fs, ft = fold(sku), fold(title)
            if want in fs or want in ft:
                rank = 0 if fs == want else 1 if fs.startswith(want) else 2 if ft.startswith(want) else 3
                hits.append((rank, ft, pid))
    return [pid for _, _, pid in sorted(hits)[:limit]]
