"""Vitrina console: navigation, page config and, on first start, the demo catalog preparation.

Adding a page is one line in PAGES."""
import streamlit as st

from console.api import ensure_api
from console.draft import sidebar_status
from console.runtime import get_runtime
from console.startup import ensure_demo
from engine.errors import VitrinaError

st.set_page_config(page_title="Vitrina", page_icon=":material/storefront:", layout="wide")

PAGES = {
    "Catalog": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("app_pages/similar.py", title="Similar items", icon=":material/join:"),
        st.Page("app_pages/visual_search.py", title="Visual search", icon=":material/image_search:"),
        st.Page("app_pages/text_search.py", title="Text search", icon=":material/search:"),
    ],
    "Merchandising": [
        st.Page("app_pages/tuning.py", title="Tuning", icon=":material/tune:"),
        st.Page("app_pages/looks.py", title="Complete the look", icon=":material/styler:"),
        st.Page("app_pages/rules.py", title="Rules", icon=":material/push_pin:"),
        st.Page("app_pages/publish.py", title="Publish", icon=":material/publish:"),
    ],
    "Insights": [
        st.Page("app_pages/analytics.py", title="Analytics", icon=":material/monitoring:"),
        st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
        st.Page("app_pages/personalisation.py", title="Personalisation", icon=":material/person_heart:"),
    ],
    "Operations": [
        st.Page("app_pages/index.py", title="Index", icon=":material/sync:"),
    ],
}

page = st.navigation(PAGES)
try:
    ensure_demo(get_runtime())
    ensure_api(get_runtime())
    sidebar_status()
except VitrinaError as e:  # e.g. the store is held by another process
    st.error(str(e))
    st.stop()
page.run()
