"""Text search: a query in Russian, Turkish or English; with CLIP, photos can be searched by text as well.

What the engine read from the query (colour, gender, category, price) is shown as chips; taking a chip off
(its ×) searches again without that attribute. Results the engine is not sure of are labelled "loosely
related" rather than passed off as matches."""
import streamlit as st

from console.errors import attempt
from console.filters import sidebar_filters
from console.grid import result_grid
from console.draft import get_recommender, working_config
from console.runtime import get_runtime
from console.state import kept

IGNORED = "text_ignored"  # attribute kinds taken off, for the query they were taken off
LOOSE_LABEL = "Loosely related"

rt = get_runtime()
st.title("Text search", anchor=False)
choice = sidebar_filters(rt)

query = kept(st.text_input, "Search the catalog", key="query", default="",
             placeholder="in Russian, Turkish or English: красная куртка · kırmızı ceket · red jacket under 50")
encoder = rt.image_encoder
photos = False
if encoder.supports_text:
    photos = kept(st.toggle, "Search the photos by text", key="text_photos", default=False,
                  help=f"Compares the query with the photos through {encoder.name}'s text tower instead of "
                       "with the product texts.")
else:
    st.caption(f"Searching photos by text needs a CLIP image encoder; the one in use is {encoder.name}.")


def chips(result) -> None:
    """One button per attribute read from the query; pressing it searches again without that attribute."""
    if not result.attributes and not result.ignored:
        return
    cols = st.columns(max(1, len(result.attributes) + (1 if result.ignored else 0)))
    for col, attr in zip(cols, result.attributes):
        if col.button(f"{attr.label} ×", key=f"chip-{attr.kind}",
                      help=f"Read from “{' '.join(attr.words)}”. Remove it to search without it."):
            st.session_state[IGNORED] = (query, sorted(set(result.ignored) | {attr.kind}))
            st.rerun()
    if result.ignored and cols[-1].button("Restore all", key="chip-restore",
                                          help="Search again with everything the query says."):
        st.session_state[IGNORED] = (query, [])
        st.rerun()


if query.strip() and photos:
    recs = attempt(get_recommender().search_by_text, query, n=choice.n, filters=choice.filters(),
                   space="image", strategy=choice.strategy)
    if recs is not None:
        result_grid(recs, key="grid-text", per_row=6, empty="Nothing matches within these filters.")
elif query.strip():
    held = st.session_state.get(IGNORED)
    ignored = held[1] if held and held[0] == query else []  # a new query starts with every attribute
    config = working_config()
    # Text search ranks relevance-first by default (the config's search.strategy); the sidebar's strategy
    # applies once it is changed from the recommender's default.
    strategy = None if choice.strategy == config.default_strategy else choice.strategy
    result = attempt(get_recommender().text_search, query, n=choice.n, filters=choice.filters(),
                     strategy=strategy, ignore=ignored)
    if result is not None:
        chips(result)
        for note in result.notes:
            st.info(note)
        st.caption(f"Ranked by «{strategy or config.search.strategy}» · {result.mode} search · "
                   f"confidence {result.confidence:.2f} (loosely related below {result.threshold:.2f})")
        if result.loose:
            shown = "" if result.hidden else " These are the nearest products, not matches."
            st.warning(f"{LOOSE_LABEL}: no good match for “{query.strip()}”.{shown}")
        result_grid(result.items, key="grid-text", per_row=6,
                    empty="No good match." if result.hidden else "Nothing matches within these filters.")
else:
    st.info("Type what a shopper would: the engine understands Russian, Turkish and English, colours, "
            "genders, categories and prices (“siyah kadın ceket 500 TL altı”).")
