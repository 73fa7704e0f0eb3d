"""Overview: catalog size, vector coverage, the encoders behind the vectors, the collection and its drift."""
import streamlit as st

from console.api import ensure_api
from console.drift_view import drift_panel
from console.fmt import count, percent, when
from console.runtime import get_runtime
from engine.insights.analytics import coverage
from engine.indexing.indexer import index_status

rt = get_runtime()
st.title("Overview", anchor=False)

stats = rt.catalog.stats()
with st.container(key="overview-catalog", horizontal=True):
    st.metric("Products", count(stats.products), border=True)
    st.metric("Active", count(stats.active), border=True)
    st.metric("In stock", count(stats.in_stock), border=True)
    st.metric("Styles", count(stats.styles), border=True)
    st.metric("Categories", count(stats.categories), border=True)
    st.metric("With photos", count(stats.with_images), border=True)

st.subheader("Vector coverage", anchor=False)
cov = coverage(rt.db)
kinds = (("Text vectors", cov.with_text), ("Image vectors", cov.with_image), ("Combined vectors", cov.with_combined))
with st.container(key="overview-coverage", horizontal=True):
    for label, have in kinds:
        st.metric(label, percent(have, cov.active), border=True,
                  help=f"{count(have)} of {count(cov.active)} active products")
st.caption(f"Of {count(cov.active)} active products, " + ", ".join(
    f"{count(have)} have {label.lower()}" for label, have in kinds) + ". A product without a usable photo gets "
    "text and combined vectors only.")

st.subheader("Collection", anchor=False)
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

st.subheader("Encoders", anchor=False)
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
        "Made the vectors": [f"{spec.text_encoder} ({spec.text_dim}-d)", f"{spec.image_encoder} ({spec.image_dim}-d)",
                             f"{spec.text_weight:g}"],
        "Configured now": [f"{configured.text_encoder} ({configured.text_dim}-d)",
                           f"{configured.image_encoder} ({configured.image_dim}-d)", f"{configured.text_weight:g}"],
    })
    differences = spec.differences(configured)
    if differences:
        st.warning("The collection was built with other encoders or weights than configured now "
                   "(" + "; ".join(differences) + "): run a full reindex on the Index page.",
                   icon=":material/sync_problem:")

st.subheader("Drift", anchor=False)
st.caption("Compares the catalog with the vector store: products missing from it, points of removed products, "
           "vectors made by other encoders, prices or stock out of date.")
drift_panel("overview")
