"""Index: (re)build the vectors with a live progress bar, import a catalog file, check and repair drift."""
import streamlit as st

from console.activity import activity, exclusive_job
from console.errors import attempt
from console.fmt import seconds
from console.progress import LiveProgress
from console.reports import drift_summary, import_summary, index_summary
from console.runtime import get_runtime
from console.state import kept, remember, value
from engine.catalog.importers import import_generic

MODES = {"incremental": "Incremental — new and changed products", "full": "Full — rebuild every vector"}

rt = get_runtime()
log = activity()
st.title("Index", anchor=False)

st.subheader("Indexing", anchor=False)
mode_col, batch_col, limit_col = st.columns([4, 1, 1], vertical_alignment="bottom")
with mode_col:
    mode = kept(st.radio, "Mode", list(MODES), key="index_mode", default="incremental", horizontal=True,
                format_func=MODES.__getitem__, valid=lambda v: v in MODES)
with batch_col:
    batch = kept(st.number_input, "Batch size", key="index_batch", default=rt.settings.batch_size, min_value=1,
                 max_value=4096, step=1, valid=lambda v: isinstance(v, int) and v >= 1)
with limit_col:
    limit = kept(st.number_input, "At most (0 = all)", key="index_limit", default=0, min_value=0, step=1,
                 valid=lambda v: isinstance(v, int) and v >= 0,
                 help="Handle at most this many products in this run; the next incremental run goes on "
                      "from there.")
if mode == "full":
    st.caption("A full run drops the collection first: recommendations are incomplete until it ends.")


def run_indexing() -> None:
    bar = LiveProgress("indexing")
    report = attempt(rt.indexer.run, full=mode == "full", batch_size=int(batch), progress=bar,
                     limit=int(limit) or None)
    if report is not None:
        bar.finish(f"indexing done: {report.candidates:,} products in {seconds(report.seconds)}")
        remember("index_report", log.record(report))


if st.button("Run indexing", key="index_run", type="primary", icon=":material/play_arrow:"):
    exclusive_job(log, run_indexing)
done = value("index_report")
if done is not None:
    index_summary(done, key="index-report")

st.subheader("Import a catalog file", anchor=False)
st.caption("A generic CSV or JSON Lines file: columns sku, title, price (required), description, cost, stock, "
           "colour, brand, category, images, group, language, is_active, created_at. Re-importing a sku "
           "updates it; rejected rows are listed with their line numbers.")
upload = st.file_uploader("Catalog file", type=["csv", "tsv", "txt", "jsonl", "ndjson"], key="import_file")
then_index = kept(st.checkbox, "Index the imported products right away", key="import_then_index", default=True)


def run_import() -> None:
    bar = LiveProgress("importing")
    imported = attempt(import_generic, rt.db, upload.getvalue(), name=upload.name, progress=bar)
    if imported is None:
        return
    remember("import_report", log.record(imported))
    remember("import_index_report", None)
    if then_index and imported.created + imported.updated:
        bar = LiveProgress("indexing the imported products")
        report = attempt(rt.indexer.run, batch_size=int(batch), progress=bar)
        if report is not None:
            remember("import_index_report", log.record(report))


if st.button("Import", key="import_run", disabled=upload is None, icon=":material/upload_file:"):
    exclusive_job(log, run_import)
done = value("import_report")
if done is not None:
    import_summary(done, key="import-report")
done = value("import_index_report")
if done is not None:
    index_summary(done, key="import-index-report")

st.subheader("Drift check", anchor=False)
st.caption("Compares the catalog with the vector store; repair removes orphans and reindexes what is missing, "
           "stale or out of date.")
check_col, repair_col = st.columns(2)
check = check_col.button("Check", key="drift_check", icon=":material/fact_check:", width="stretch")
repair = repair_col.button("Check and repair", key="drift_repair", icon=":material/build:", width="stretch")


def run_check() -> None:
    bar = LiveProgress("repairing" if repair else "checking")
    drift = attempt(rt.indexer.check, repair=repair, progress=bar)
    if drift is not None:
        remember("drift_report", log.record(drift))


if repair:
    exclusive_job(log, run_check)
elif check:
    run_check()
done = value("drift_report")
if done is not None:
    drift_summary(done, key="drift-report")
