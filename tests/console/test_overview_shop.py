"""The Overview for the shop, through AppTest on the demo data: the period's recommendation figures and their
deltas, the top movers and the catalog health, each against independent SQL over the raw tables; the
engineering details kept in an expander."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
NBSP = "\u202f"
IMPRESSION = ("CASE WHEN e.kind = 'impression' THEN 1 WHEN e.kind = 'served' AND (e.request_id IS NULL OR NOT "
              "EXISTS (SELECT 1 FROM events r WHERE r.request_id = e.request_id AND r.kind = 'impression')) "
              "THEN 1 ELSE 0 END")


def overview() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()  # Overview is the default page
    assert not at.exception, [e.value for e in at.exception]
    return at


def week(offset: int = 0) -> dict:
    """The bounds of the last 7 UTC days (offset 7: the 7 before them)."""
    today = datetime.now(timezone.utc).date()
    start = today - timedelta(days=6 + offset)
    return {"lo": datetime.combine(start, time()), "hi": datetime.combine(start + timedelta(days=7), time())}


def totals(db, bounds: dict) -> dict[str, int]:
    q = (f"SELECT SUM({IMPRESSION}), SUM(CASE WHEN e.kind = 'click' THEN 1 ELSE 0 END), "
         "SUM(CASE WHEN e.kind = 'purchase' THEN 1 ELSE 0 END) FROM events e WHERE e.ts >= :lo AND e.ts < :hi")
    with db.engine.connect() as conn:
        shown, clicks, bought = conn.execute(text(q), bounds).one()
    return {"impressions": int(shown or 0), "clicks": int(clicks or 0), "purchases": int(bought or 0)}


def test_recommendation_figures_of_the_last_7_days_with_deltas_equal_sql(console_env, runtime):
    at = overview()
    now, before = totals(runtime.db, week()), totals(runtime.db, week(7))
    assert now["impressions"] > 0 and before["impressions"] > 0
    shown = {m.label: m for m in at.get_by_key("overview-figures").metric}
    ctr, ctr0 = now["clicks"] / now["impressions"], before["clicks"] / before["impressions"]
    assert shown["CTR"].value == f"{100 * ctr:.2f}%"
    assert shown["CTR"].delta == f"{100 * (ctr - ctr0):+.2f} points"
    conv, conv0 = now["purchases"] / now["impressions"], before["purchases"] / before["impressions"]
    assert shown["Conversion"].value == f"{100 * conv:.2f}%"
    assert shown["Conversion"].delta == f"{100 * (conv - conv0):+.2f} points"
    assert shown["Purchases"].value == f"{now['purchases']:,}".replace(",", NBSP)
    q = ("SELECT SUM(price * COALESCE(quantity, 1)), COUNT(price) FROM events WHERE kind = 'purchase' "
         "AND ts >= :lo AND ts < :hi")
    with runtime.db.engine.connect() as conn:
        (revenue, orders), (revenue0, _) = (conn.execute(text(q), week(o)).one() for o in (0, 7))
    assert float(shown["Revenue"].value.replace(NBSP, "")) == pytest.approx(revenue, abs=0.005)
    assert shown["Revenue"].delta == f"{100 * (revenue / revenue0 - 1):+.1f}%"
    assert float(shown["Average order"].value.replace(NBSP, "")) == pytest.approx(revenue / orders, abs=0.005)
    start = week()["lo"].date()
    heading = " ".join(h.value for h in at.subheader)
    assert f"Recommendations, last 7 days ({start} – {start + timedelta(days=6)})" in heading


def test_top_movers_are_the_products_whose_clicks_changed_most(console_env, runtime):
    at = overview()
    q = ("SELECT product_id, SUM(CASE WHEN ts >= :mid THEN 1 ELSE 0 END) AS after, "
         "SUM(CASE WHEN ts < :mid THEN 1 ELSE 0 END) AS before FROM events WHERE kind = 'click' AND ts >= :lo "
         "AND ts < :hi GROUP BY product_id")
    bounds = {"lo": week(7)["lo"], "mid": week()["lo"], "hi": week()["hi"]}
    with runtime.db.engine.connect() as conn:
        raw = pd.read_sql(text(q), conn, params=bounds)
        skus = dict(conn.execute(text("SELECT id, sku FROM products")).all())
    raw["change"] = raw["after"] - raw["before"]
    ups = raw[raw["change"] > 0].sort_values(["change", "product_id"], ascending=[False, True]).head(5)
    downs = raw[raw["change"] < 0].sort_values(["change", "product_id"], ascending=[True, True]).head(5)
    table = at.get_by_key("overview-movers").dataframe[0].value
    assert list(table["change"]) == list(ups["change"]) + list(downs["change"])
    assert list(table["sku"]) == [skus[p] for p in list(ups["product_id"]) + list(downs["product_id"])]
    assert {"thumbnail", "title", "colour", "before", "after"} <= set(table.columns)


def test_catalog_health_counts_equal_sql_and_engineering_sits_in_an_expander(console_env, runtime):
    at = overview()
    q = ("SELECT SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM product_images i WHERE i.product_id = p.id) THEN 1 ELSE 0 "
         "END), SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM vector_sync v WHERE v.product_id = p.id) THEN 1 ELSE 0 "
         "END), SUM(CASE WHEN p.stock_qty <= 0 THEN 1 ELSE 0 END) FROM products p WHERE p.is_active = 1")
    with runtime.db.engine.connect() as conn:
        no_photo, no_vector, no_stock = (int(v or 0) for v in conn.execute(text(q)).one())
    shown = {m.label: m.value for m in at.get_by_key("overview-health").metric}
    assert shown["Without a photo"] == f"{no_photo:,}".replace(",", NBSP)
    assert shown["Without vectors"] == f"{no_vector:,}".replace(",", NBSP)
    assert shown["Out of stock"] == f"{no_stock:,}".replace(",", NBSP)
    (details,) = [e for e in at.expander if e.label.startswith("Engineering details")]
    assert {m.label for m in details.metric} >= {"Text vectors", "Image vectors", "Backend", "Points"}
    assert {m.label for m in at.get_by_key("overview-health").metric}.isdisjoint({"Text vectors", "Backend"})


def test_catalog_health_is_kept_per_catalog_version_and_follows_an_edit(console_env, runtime):
    """The counts are read once per catalog and index version: an edit that bumps the catalog's version (as the
    importers do) shows on the next run, and putting the product back shows the first figures again."""
    def out_of_stock() -> int:
        shown = {m.label: m.value for m in overview().get_by_key("overview-health").metric}
        return int(shown["Out of stock"].replace(NBSP, ""))

    before = out_of_stock()
    with runtime.db.engine.begin() as conn:
        pid, qty, updated = conn.execute(text("SELECT id, stock_qty, updated_at FROM products WHERE is_active = 1 "
                                              "AND stock_qty > 0 ORDER BY id LIMIT 1")).one()
        conn.execute(text("UPDATE products SET stock_qty = 0, updated_at = :now WHERE id = :id"),
                     {"now": datetime.now(timezone.utc).replace(tzinfo=None), "id": pid})
    try:
        assert out_of_stock() == before + 1
    finally:
        with runtime.db.engine.begin() as conn:
            conn.execute(text("UPDATE products SET stock_qty = :q, updated_at = :u WHERE id = :id"),
                         {"q": qty, "u": updated, "id": pid})
    assert out_of_stock() == before
