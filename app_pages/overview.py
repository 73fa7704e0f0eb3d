"""Overview for the people who run the shop: how recommendations did over the chosen period (CTR, conversion,
purchases, revenue and average order against the period before), the products that moved most, and the health
of the catalog (products without a photo, without vectors, out of stock). The engineering details — vector
coverage, the collection, the HTTP API, the encoders, drift — sit in an expander below.

The period picker is the Analytics page's own (console.period, shared keys): both pages describe the same
days."""
import streamlit as st

from console import analytics_view as V
from console import period as P
from console import tables as T
from console.api import ensure_api
from console.catalog_facts import catalog_facts
from console.drift_view import drift_panel
from console.errors import attempt
from console.fmt import count, percent, when
from console.photos import photo_source
from console.runtime import get_runtime
from console.state import kept
from engine.insights import dashboards as D
from engine.insights.analytics import coverage
from engine.insights.revenue import revenue_summary
from engine.indexing.indexer import index_status

MOVERS = 5

rt = get_runtime()
st.title("Overview", anchor=False)

# ---- recommendations over the period --------------------------------------------------------------------------
everything = D.span(rt.db)
bar = st.sidebar
bar.header("Traffic", anchor=False)
with st.container(key="overview-traffic"):
    if everything is None:
        st.info("No shopper activity is logged yet: the figures of recommendations appear once events arrive "
                "(import a file on the Analytics page, or run the simulator).")
    else:
        preset, dates = P.picker(bar, kept, last_event_day=everything[1])
        with_simulated = kept(bar.checkbox, "Include simulated traffic", key="an_simulated", default=True,
                              help="The demo traffic simulator marks its events; real and imported events are "
                                   "always shown.")
        period = attempt(P.choose, preset, dates, last_event_day=everything[1])
        if period is not None:
            period = period.with_gaps(rt.db)
            before = period.previous()
            simulated = None if with_simulated else False
            scope, earlier = period.scope((), simulated), before.scope((), simulated)
            st.subheader(f"Recommendations, {period.text()}", anchor=False)
            st.caption(f"Against the {before.text()}.")
            if period.gaps is not None:
                st.warning(period.gaps, icon=":material/warning:")
            earned = attempt(revenue_summary, rt.db, period.start, period.end, simulated)
            earned_before = attempt(revenue_summary, rt.db, before.start, before.end, simulated)
            shown = [f for f in V.figures(rt.db, scope, earlier) if f.key in ("ctr", "conversion", "purchases")]
            if earned is not None and earned_before is not None:
                shown += V.money_figures(V.money(earned), V.money(earned_before))[:2]
            with st.container(horizontal=True, key="overview-figures"):
                for f in shown:
                    st.metric(f.label, f.value(), delta=f.delta(), help=f.help or None, border=True)
            st.caption(V.denominator(rt.db, scope))

            st.subheader("Top movers", anchor=False)
            moved = V.movers(rt.db, scope, earlier, "click", MOVERS)
            if moved.empty:
                st.info("No product's clicks changed between the two periods.")
            else:
                T.show(T.readable_products(rt.db, moved, photo_source=photo_source), key="overview-movers",
                       file_name="top-movers-by-clicks.csv", hide=["product_id"],
                       help={"before": f"Clicks in the {before.text()}", "after": f"Clicks in the {period.text()}"},
                       caption=f"The {MOVERS} products whose clicks rose most, then the {MOVERS} that fell most: "
                               f"before = the {before.text()}, after = the {period.text()}.")

# ---- catalog health -------------------------------------------------------------------------------------------
st.subheader("Catalog health", anchor=False)
stats, health = catalog_facts()
with st.container(key="overview-health", horizontal=True):
    st.metric("Products", count(stats.products), border=True)
    st.metric("Active", count(stats.active), border=True)
    for label, n, why in health.rows():
        st.metric(label, count(n), border=True, help=f"{V.share(n, health.active)} of the active products: {why}.")
problems = [f"{count(n)} {label.lower()}" for label, n, _ in health.rows() if n]
if problems:
    st.caption("Of the active products: " + ", ".join(problems) + ".")
else:
    st.success("Every active product has a photo, vectors and stock.", icon=":material/check_circle:")

# ---- engineering details --------------------------------------------------------------------------------------
with st.expander("Engineering details: vectors, collection, encoders, drift", icon=":material/engineering:"):
    with st.container(key="overview-catalog", horizontal=True):
        st.metric("In stock", count(stats.in_stock), border=True)
        st.metric("Styles", count(stats.styles), border=True)
        st.metric("Categories", count(stats.categories), border=True)
        st.metric("With photos", count(stats.with_images), border=True)

    st.markdown("**Vector coverage**")
    cov = coverage(rt.db)
    kinds = (("Text vectors", cov.with_text), ("Image vectors", cov.with_image),
             ("Combined vectors", cov.with_combined))
    with st.container(key="overview-coverage", horizontal=True):
        for label, have in kinds:
            st.metric(label, percent(have, cov.active), border=True,
                      help=f"{count(have)} of {count(cov.active)} active products")
    st.caption(f"Of {count(cov.active)} active products, " + ", ".join(
        f"{count(have)} have {label.lower()}" for label, have in kinds) + ". A product without a usable photo gets "
        "text and combined vectors only.")

    st.markdown("**Collection**")
    spec = rt.store.spec()
    points = rt.store.count() if spec is not None else 0
    status = index_status(rt.db)
    last_at = when(status.last_synced_at) if status.last_synced_at else "—"
    last_help = (f"{count(status.synced)} products have vectors; the last indexing run left "
                 f"{len(status.errors)} per-product errors" + (" (see the Index page)." if status.errors else "."))
    with st.container(key="overview-collection", horizontal=True):
        st.metric("Backend", rt.store.backend, border=True)
        st.metric("Points", count(points), border=True)
        st.metric("Synced products", count(cov.with_combined), border=True)
        st.metric("Last index run", last_at, border=True, help=last_help)
    api = ensure_api(rt)
    if api is not None and api.url is not None:
        st.caption(f"HTTP API: {api.url} (this console serves the engine; its OpenAPI document is "
                   f"{api.url}/openapi.json). "
                   + ("It owns the embedded store: other processes reach the engine through this API."
                      if not rt.settings.qdrant_url else ""), help="VITRINA_API_PORT sets the port; 0 turns it off.")
    elif api is not None:
        st.warning(f"The HTTP API is not running: {api.error}. Set VITRINA_API_PORT to a free port (0: no API) and "
                   "restart the console.", icon=":material/warning:")

    st.markdown("**Encoders**")
    with st.spinner("Loading the encoders to compare them with the collection…"):
        warning, configured = rt.encoder_warning, rt.indexer.spec
    if warning:
        st.warning(warning, icon=":material/warning:")
    elif not rt.image_encoder.supports_text:
        st.info(f"Photos are compared by {rt.image_encoder.name}, a weight-free descriptor of colour, shape and "
                "texture; searching photos by text needs CLIP.", icon=":material/info:")
    if spec is None:
        st.info("No vector collection yet: run indexing on the Index page.")
    else:
        st.table({
            "": ["Text", "Image", "Text weight in combined"],
            "Made the vectors": [f"{spec.text_encoder} ({spec.text_dim}-d)",
                                 f"{spec.image_encoder} ({spec.image_dim}-d)", f"{spec.text_weight:g}"],
            "Configured now": [f"{configured.text_encoder} ({configured.text_dim}-d)",
                               f"{configured.image_encoder} ({configured.image_dim}-d)",
                               f"{configured.text_weight:g}"],
        })
        differences = spec.differences(configured)
        if differences:
            st.warning("The collection was built with other encoders or weights than configured now "
                       "(" + "; ".join(differences) + "): run a full reindex on the Index page.",
                       icon=":material/sync_problem:")

    st.markdown("**Drift**")
    st.caption("Compares the catalog with the vector store: products missing from it, points of removed products, "
               "vectors made by other encoders, prices or stock out of date.")
    drift_panel("overview")
