"""Text search: a query in Russian, Turkish or English; with CLIP, photos can be searched by text as well."""
import streamlit as st

from console.errors import attempt
from console.filters import sidebar_filters
from console.grid import result_grid
from console.draft import get_recommender
from console.runtime import get_runtime
from console.state import kept

rt = get_runtime()
st.title("Text search", anchor=False)
choice = sidebar_filters(rt)

query = kept(st.text_input, "Search the catalog", key="query", default="",
             placeholder="in Russian, Turkish or English: красная куртка · kırmızı ceket · red jacket")
encoder = rt.image_encoder
photos = False
if encoder.supports_text:
    photos = kept(st.toggle, "Search the photos by text", key="text_photos", default=False,
                  help=f"Compares the query with the photos through {encoder.name}'s text tower instead of "
                       "with the product texts.")
else:
    st.caption(f"Searching photos by text needs a CLIP image encoder; the one in use is {encoder.name}.")

if query.strip():
    recs = attempt(get_recommender().search_by_text, query, n=choice.n, filters=choice.filters(),
                   space="image" if photos else "text", strategy=choice.strategy)
    if recs is not None:
        result_grid(recs, key="grid-text", per_row=6, empty="Nothing matches within these filters.")
else:
    st.info("Type what a shopper would: the engine understands Russian, Turkish and English.")
