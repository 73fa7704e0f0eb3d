"""The search insights panel of the Analytics page: what shoppers searched for in the period, which searches
found nothing (or nothing good) and which found results nobody clicked (engine.insights.searches), and from a
failed query a link to the Rules page with the query filled in (`?query=`), where a merchandiser answers it."""
from __future__ import annotations

import streamlit as st

from engine.catalog.db import Database
from engine.insights.searches import failed_queries, queries_without_clicks, top_queries

from .period import Period
from .tables import show

SHOWN = 20
RULES_PAGE = "app_pages/rules.py"
HELP = {"zero_results": "Searches that found nothing.",
        "no_good_match": "Searches that found products, none close enough to show as a good match.",
        "clicked": "Searches with at least one click on their results.",
        "click_rate": "Clicked searches per search."}
PERCENT = ("click_rate",)


def rules_link(query: str, *, key: str) -> None:
    """A link to the Rules page carrying the query, so a failed search becomes a rule in two clicks."""
    with st.container(key=key):
        st.page_link(RULES_PAGE, label=f"Answer “{query}” with a rule", icon=":material/push_pin:",
                     query_params={"query": query})


def search_panel(db: Database, period: Period) -> None:
    """Top, failed and unclicked queries of `period`, each table naming its period."""
    when = period.text()
    top = top_queries(db, period.start, period.end, n=SHOWN)
    if top.empty:
        st.info(f"No text or photo search was logged in the {when}.")
        return
    top_tab, failed_tab, unclicked_tab = st.tabs(["Top queries", "Found nothing", "No clicks"])
    with top_tab:
        show(top, key="an-search-top", file_name="top-queries.csv", percent=PERCENT, help=HELP,
             caption=f"The {SHOWN} most searched queries of the {when}; “(photo)” counts photo searches "
                     "without text.")
    with failed_tab:
        failed = failed_queries(db, period.start, period.end, n=SHOWN)
        if failed.empty:
            st.success(f"Every search of the {when} found a good match.", icon=":material/check_circle:")
        else:
            show(failed, key="an-search-failed", file_name="failed-queries.csv", percent=PERCENT, help=HELP,
                 caption=f"Searches of the {when} that found nothing or nothing close enough, most frequent first.")
            fixable = [q for q in failed["query"] if q != "(photo)"]
            if fixable:
                pick = st.selectbox("Query to answer", fixable, key="an_search_fix",
                                    help="Opens the Rules page with this query filled in.")
                rules_link(pick, key="an-search-rule")
    with unclicked_tab:
        unclicked = queries_without_clicks(db, period.start, period.end, n=SHOWN)
        if unclicked.empty:
            st.success(f"Every query of the {when} that found results led to a click.",
                       icon=":material/check_circle:")
        else:
            show(unclicked, key="an-search-unclicked", file_name="queries-without-clicks.csv", percent=PERCENT,
                 help=HELP, caption=f"Queries of the {when} that found results none of which was clicked.")


__all__ = ["search_panel"]
