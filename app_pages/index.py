"""Index: the indexing queue (jobs waiting, running, done, failed; throughput, time left, failed products and
their retry), queue an incremental or full run, the search graph (its status, a build's progress, a button
to build it), import a catalog file (uploaded, or a feed of any size from a path or URL, as a job), check and
repair drift."""
import streamlit as st

from console.activity import activity, exclusive_job
from console.drift_view import drift_panel
from console.errors import attempt
from console.jobs_view import graph_panel, queue_panel, submit
from console.progress import LiveProgress
from console.reports import import_summary
from console.runtime import get_runtime
from console.state import kept, remember, value
from engine.catalog.importers import import_generic
from engine.catalog.importers.feeds import check_source, import_roots

QUEUED = "index_queued"  # what the last queueing did, shown on the next run
MODES = {"incremental": "Incremental — new and changed products", "full": "Full — rebuild every vector"}

rt = get_runtime()
log = activity()
st.title("Index", anchor=False)

st.subheader("Indexing jobs", anchor=False)
st.caption("Indexing runs in the background of the process that holds the store (or on Celery workers): this "
           "page never waits for it. Imports queue the indexing of what they changed by themselves.")
queue_panel()
mode_col, run_col = st.columns([4, 1], vertical_alignment="bottom")
with mode_col:
    mode = kept(st.radio, "Mode", list(MODES), key="index_mode", default="incremental", horizontal=True,
                format_func=MODES.__getitem__, valid=lambda v: v in MODES)
if mode == "full":
    st.caption("A full run drops the collection first: recommendations are incomplete until it ends.")


def queue_indexing() -> None:
    job = submit("full" if mode == "full" else "index", f"{MODES[mode].split(' —')[0].lower()} run from the console")
    if job is not None:
        st.session_state[QUEUED] = f"Queued indexing as job {job}."


run_col.button("Queue indexing", key="index_run", type="primary", icon=":material/play_arrow:", on_click=queue_indexing,
               width="stretch")
if QUEUED in st.session_state:
    st.success(st.session_state.pop(QUEUED), icon=":material/schedule:")

st.subheader("Search graph", anchor=False)
graph_panel()

st.subheader("Import a catalog file", anchor=False)
st.caption("A generic CSV or JSON Lines file: columns sku, title, price (required), description, cost, stock, "
           "colour, brand, category, images, group, language, is_active, created_at. Re-importing a sku "
           "updates it; rejected rows are listed with their line numbers. The imported products are indexed "
           "by a job of the queue above.")
# the server refuses a larger body whatever a widget says, so the smaller of the two caps is the real one
upload_mb = min(rt.settings.max_catalog_upload_mb, int(st.get_option("server.maxUploadSize")))
upload = st.file_uploader("Catalog file", type=["csv", "tsv", "txt", "jsonl", "ndjson", "gz"], key="import_file",
                          max_upload_size=upload_mb,
                          help=f"Up to {upload_mb:,} MB (VITRINA_MAX_CATALOG_UPLOAD_MB); a larger feed is "
                               "imported from a path or URL below.")


def run_import() -> None:
    bar = LiveProgress("importing")
    imported = attempt(import_generic, rt.db, upload.getvalue(), name=upload.name, progress=bar)
    if imported is None:
        return
    remember("import_report", log.record(imported))
    remember("import_job", submit("index", f"catalog upload {upload.name}")
             if imported.created + imported.updated else None)


if st.button("Import", key="import_run", disabled=upload is None, icon=":material/upload_file:"):
    exclusive_job(log, run_import)
done = value("import_report")
if done is not None:
    import_summary(done, key="import-report")
    if value("import_job") is not None:
        st.caption(f"Indexing the imported products: job {value('import_job')} in the queue above.")

hosts = ", ".join(rt.settings.import_hosts) or "none (VITRINA_IMPORT_HOSTS is empty)"
feed = st.text_input("…or import a feed of any size from a path or URL, as a job", key="feed_source",
                     placeholder="/srv/feeds/products.csv.gz or https://feeds.example.com/products.csv",
                     help=f"A file under {', '.join(str(r) for r in import_roots(rt.settings))} "
                          f"(VITRINA_IMPORT_ROOTS), or an http(s) URL on an allowed host: {hosts}.").strip()


def queue_feed() -> None:
    source = attempt(check_source, feed, rt.settings)  # refused on the spot when it can never be imported
    if source is not None:
        job = submit("import", f"feed {source}", {"source": source})
        if job is not None:
            st.success(f"Queued the import of {source} as job {job}.", icon=":material/schedule:")


if st.button("Import from the path or URL", key="feed_run", disabled=not feed, icon=":material/cloud_download:"):
    queue_feed()

st.subheader("Drift check", anchor=False)
st.caption("Compares the catalog with the vector store, as a job of the background runner (no page waits for "
           "it); repair queues a sync job that checks, removes orphans and reindexes what is missing, stale or "
           "out of date.")
drift_panel("index")


def queue_repair() -> None:
    job = submit("sync", "check and repair asked for in the console")
    if job is not None:
        st.session_state[QUEUED] = f"Queued the repair as job {job}: follow it in the queue above."


st.button("Check and repair", key="drift_repair", icon=":material/build:", on_click=queue_repair)
