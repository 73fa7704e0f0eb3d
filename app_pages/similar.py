"""Similar items: pick a product and compare what its combined, text and image vectors find."""
import streamlit as st

from console.api import ensure_api
from console.errors import attempt
from console.filters import sidebar_filters
from console.grid import product_detail, product_grid, result_grid
from console.draft import get_recommender
from console.runtime import get_runtime
from console.state import kept, put, saved
from engine.service.shop.tokens import shop_links
from engine.types import VECTOR_KINDS

KINDS = sorted(VECTOR_KINDS, key=lambda kind: kind != "combined")  # the blend first, then each vector alone

BROWSE_PAGE = 12
SEARCH_LIMIT = 50
LAYOUTS = ("Side by side", "Tabs")

rt = get_runtime()
st.title("Similar items", anchor=False)
choice = sidebar_filters(rt, source_product=True)


def pick(product_id: int) -> None:
    put("similar_product", product_id)


def searched() -> None:
    """A new search text picks its best match (an exact sku first)."""
    best = rt.catalog.search(saved("similar_query", ""), limit=1, active_only=True)
    if best:
        pick(best[0].id)


find, chooser = st.columns([2, 3], vertical_alignment="bottom")
with find:
    query = kept(st.text_input, "Find a product", key="similar_query", default="",
                 placeholder="sku or words of the title, e.g. MJ01 or hoodie", on_change=searched)
found = (rt.catalog.search(query, limit=SEARCH_LIMIT, active_only=True) if query.strip()
         else rt.catalog.list_products(active_only=True, limit=SEARCH_LIMIT).items)
current = saved("similar_product")
cards = {c.id: c for c in found}
if current is not None and current not in cards:
    cards = rt.catalog.cards([current]) | cards
with chooser:
    product_id = kept(st.selectbox, "Product", list(cards), key="similar_product",
                      default=next(iter(cards), None), valid=lambda v: v in cards,
                      format_func=lambda pid: f"{cards[pid].sku} — {cards[pid].title}",
                      placeholder="no product matches the search")

with st.expander("Browse the catalog", icon=":material/apps:"):
    nodes = rt.catalog.categories()
    labels = {n.id: f"{n.label} ({n.total})" for n in nodes}
    category, page_no = st.columns([3, 1])
    with category:
        category_id = kept(st.selectbox, "Category", list(labels), key="similar_browse_category", default=None,
                           valid=lambda v: v is None or v in labels, format_func=labels.__getitem__,
                           placeholder="all categories")
    listing = rt.catalog.list_products(category_id, active_only=True, limit=1)
    pages = max(1, -(-listing.total // BROWSE_PAGE))
    with page_no:
        page = kept(st.number_input, f"Page (of {pages})", key="similar_browse_page", default=1, min_value=1,
                    max_value=pages, step=1, valid=lambda v: isinstance(v, int) and 1 <= v <= pages)
    browse = rt.catalog.list_products(category_id, active_only=True, limit=BROWSE_PAGE,
                                      offset=(page - 1) * BROWSE_PAGE)
    product_grid(browse.items, key="grid-browse", per_row=6, pick=pick)

if product_id is None:
    st.info("Find a product above, or pick one while browsing the catalog.")
else:
    product_detail(cards[product_id], key="similar-source")
    api = ensure_api(rt)
    if api is not None and api.url:  # the demo shop is served beside the API
        live, draft = shop_links(rt.settings, api.url, cards[product_id].sku)
        st.markdown(f"See it as a shopper: [live config]({live}) · [the draft]({draft}) (the link works for an hour)")
    layout = kept(st.segmented_control, "Layout", LAYOUTS, key="similar_layout", default=LAYOUTS[0],
                  valid=lambda v: v in LAYOUTS, required=True, label_visibility="collapsed")
    side_by_side = layout == LAYOUTS[0]
    places = st.columns(len(KINDS)) if side_by_side else st.tabs([k.title() for k in KINDS])
    for kind, place in zip(KINDS, places):
        with place:
            if side_by_side:
                st.subheader(f"By {kind}", anchor=False)
            recs = attempt(get_recommender().similar, product_id, by=kind, n=choice.n, filters=choice.filters(),
                           strategy=choice.strategy, exclude_same_style=choice.exclude_same_style,
                           exclude_same_brand=choice.exclude_same_brand)
            if recs is not None:
                result_grid(recs, key=f"grid-similar-{kind}", per_row=2 if side_by_side else 4,
                            empty="Nothing similar within these filters.")
