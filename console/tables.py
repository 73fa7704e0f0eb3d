"""Tables an analyst reads: headers in words, rates as percentages, products by SKU, title, colour and a
thumbnail; the CSV download under each table keeps the machine names (and leaves out the thumbnails), so a
spreadsheet or a script reading it sees the same columns as the engine's frames.

The frame shown is the engine's frame itself (only `column_config` labels it), so a test reading a table
through AppTest compares machine-named columns with independent numbers."""
from __future__ import annotations

import base64
import io
from typing import Iterable, Sequence

import pandas as pd
import streamlit as st
from sqlalchemy import select

from engine.catalog.db import Database
from engine.catalog.models import Product

WORDS = {
    "algorithm": "Algorithm", "strategy": "Strategy", "variant": "Variant", "config": "Serves",
    "config_version": "Config version", "day": "Day (UTC)", "position": "Slot (0 = first)", "stage": "Stage",
    "product_id": "Product id", "sku": "SKU", "title": "Title", "colour": "Colour", "thumbnail": "Photo",
    "served": "Served tiles", "reported": "Tiles reported visible", "denominator": "Impressions are",
    "priced_purchases": "Purchases with a price", "units": "Units",
    "revenue_per_mille": "Revenue per 1,000 impressions",
    "impressions": "Impressions", "clicks": "Clicks", "carts": "Cart adds",
    "purchases": "Purchases", "sessions": "Sessions", "events": "Events",
    "ctr": "CTR", "ctr_low": "CTR, 95% low", "ctr_high": "CTR, 95% high",
    "cart_rate": "Cart adds per click",
    "conversion_impression": "Conversion", "conversion_impression_low": "Conversion, 95% low",
    "conversion_impression_high": "Conversion, 95% high",
    "conversion_click": "Purchases per click", "conversion_click_low": "Purchases per click, 95% low",
    "conversion_click_high": "Purchases per click, 95% high",
    "conversion": "Conversion", "conversion_low": "Conversion, 95% low", "conversion_high": "Conversion, 95% high",
    "ctr_diff": "CTR difference", "ctr_diff_low": "CTR difference, low", "ctr_diff_high": "CTR difference, high",
    "ctr_p_value": "CTR p-value", "ctr_significant": "CTR significant",
    "conversion_diff": "Conversion difference", "conversion_diff_low": "Conversion difference, low",
    "conversion_diff_high": "Conversion difference, high", "conversion_p_value": "Conversion p-value",
    "conversion_significant": "Conversion significant",
    "share": "Traffic share", "control": "Control", "rate_from_previous": "Rate from the stage before",
    "session_rate": "Sessions from the stage before", "event_rate": "Events from the stage before",
    "revenue": "Revenue", "orders": "Orders", "aov": "Average order", "ci_low": "Revenue, 95% low",
    "ci_high": "Revenue, 95% high",
    "group": "Group", "group_kind": "Grouped by", "before": "Before", "after": "After",
    "change": "Change", "name": "Name", "status": "Status", "winner": "Winner", "variants": "Variants",
    "created": "Created", "stopped": "Stopped", "simulated": "Simulated", "description": "Description",
    "query": "Query", "searches": "Searches", "results": "Results", "line": "Line", "reason": "Reason",
    "zero_results": "Found nothing", "no_good_match": "No good match", "clicked": "Clicked",
    "avg_results": "Results on average", "last_seen": "Last searched (UTC)", "click_rate": "Clicked share",
}
PERCENT_STEMS = ("ctr", "cart_rate", "conversion_click", "conversion_impression", "conversion")
PERCENT = ({s + x for s in PERCENT_STEMS for x in ("", "_low", "_high", "_diff", "_diff_low", "_diff_high")}
           | {"rate_from_previous", "session_rate", "event_rate", "share"})
MONEY = {"revenue", "aov", "ci_low", "ci_high", "revenue_per_mille"}
THUMB_PX = 64


def words(name: str) -> str:
    """A column's header in words; an unknown name is shown capitalised with spaces."""
    return WORDS.get(name, name.replace("_", " ").capitalize())


def column_config(frame: pd.DataFrame, percent: Iterable[str] | None = None, help: dict[str, str] | None = None,
                  ) -> dict[str, object]:
    percent = set(PERCENT if percent is None else percent)
    config: dict[str, object] = {}
    for c in frame.columns:
        tip = (help or {}).get(c)
        if c in percent:
            config[c] = st.column_config.NumberColumn(words(c), format="percent", help=tip)
        elif c in MONEY:
            config[c] = st.column_config.NumberColumn(words(c), format="%.2f", help=tip)
        elif c == "thumbnail":
            config[c] = st.column_config.ImageColumn(words(c), width="small")
        else:
            config[c] = st.column_config.Column(words(c), help=tip)
    return config


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The CSV a download offers: machine names, no thumbnails, UTF-8, no index."""
    return frame.drop(columns=[c for c in ("thumbnail",) if c in frame.columns]).to_csv(index=False).encode("utf-8")


def show(frame: pd.DataFrame, *, key: str, file_name: str, percent: Iterable[str] | None = None,
         hide: Sequence[str] = (), help: dict[str, str] | None = None, caption: str | None = None) -> None:
    """A table with headers in words (columns in `hide` only in the CSV) and its CSV download under it."""
    with st.container(key=key):
        order = [c for c in frame.columns if c not in set(hide)]
        st.dataframe(frame, hide_index=True, key=f"{key}-table", column_order=order,
                     column_config=column_config(frame, percent, help))
        if caption:
            st.caption(caption)
        st.download_button("CSV", csv_bytes(frame), file_name=file_name, mime="text/csv", key=f"{key}-csv",
                           icon=":material/download:", on_click="ignore")


# ---- products by name ------------------------------------------------------------------------------------------

def _thumbnail(path: str | None, photo_source) -> str | None:
    """A small data URI (or the remote URL) for a product photo; None without one."""
    if not path:
        return None
    shown = photo_source(path)
    if isinstance(shown, str):
        return shown
    try:
        from PIL import Image

        with Image.open(io.BytesIO(shown)) as im:
            im = im.convert("RGB")
            im.thumbnail((THUMB_PX, THUMB_PX))
            out = io.BytesIO()
            im.save(out, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def product_facts(db: Database, ids: Sequence[int]) -> dict[int, dict[str, object]]:
    """SKU, title, colour and main photo path of the catalog products among `ids` (imported logs may name
    products the catalog does not hold: those are absent)."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        return {}
    from engine.catalog.models import ProductImage

    with db.engine.connect() as conn:
        rows = conn.execute(select(Product.id, Product.sku, Product.title, Product.colour)
                            .where(Product.id.in_(ids))).all()
        photos = conn.execute(select(ProductImage.product_id, ProductImage.path)
                              .where(ProductImage.product_id.in_(ids))
                              .order_by(ProductImage.product_id, ProductImage.position)).all()
    first: dict[int, str] = {}
    for pid, path in photos:
        first.setdefault(int(pid), path)
    return {int(r.id): {"sku": r.sku, "title": r.title, "colour": r.colour, "photo": first.get(int(r.id))}
            for r in rows}


def readable_products(db: Database, frame: pd.DataFrame, *, thumbnails: bool = True, photo_source=None
                      ) -> pd.DataFrame:
    """`frame` (with a product_id column) led by SKU, title, colour and a thumbnail; product_id stays (hidden on
    screen, kept in the CSV). A product the catalog lacks shows its id as SKU and "not in the catalog"."""
    facts = product_facts(db, frame["product_id"].tolist())
    out = frame.drop(columns=[c for c in ("sku", "title", "colour") if c in frame.columns]).copy()
    ids = out["product_id"].astype("int64").tolist()
    lead = {
        "sku": [str(facts[i]["sku"]) if i in facts else f"id {i}" for i in ids],
        "title": [facts[i]["title"] if i in facts else "not in the catalog" for i in ids],
        "colour": [facts[i]["colour"] if i in facts else None for i in ids],
    }
    if thumbnails and photo_source is not None:
        lead = {"thumbnail": [_thumbnail(facts[i]["photo"] if i in facts else None, photo_source) for i in ids],
                **lead}
    for n, (name, values) in enumerate(lead.items()):
        out.insert(n, name, values)
    return out


__all__ = ["WORDS", "column_config", "csv_bytes", "product_facts", "readable_products", "show", "words"]
