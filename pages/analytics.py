"""Analytics: how the recommendation lists perform (CTR and conversion per algorithm and strategy with 95%
intervals, the funnel, position bias, daily trends, top products, experiment results, the impact of a published
config version) and the event data behind them (import an event file, remove the simulated traffic).

Strategy names are the live config's: a name the log or an experiment holds and the config no longer has is
shown as "name (retired)", never dropped (engine.insights.analytics.strategy_labels)."""
from datetime import date

import pandas as pd
import plotly.express as px
import streamlit as st

from console.errors import attempt
from console.fmt import count, when
from console.progress import LiveProgress
from console.runtime import get_runtime
from console.state import kept, put, remember, value
from engine.errors import VitrinaError
from engine.insights import dashboards as D
from engine.insights.analytics import TOP_BY, funnel, strategy_labels, top_products
from engine.insights.event_import import import_events
from engine.insights.experiments import list_experiments, results
from engine.insights.gaps import incomplete, warning as gap_warning
from engine.insights.impact import COMPARED, RateChange, describe, logged_versions, version_impact
from engine.insights.simulate import remove_simulated, simulated_count
from engine.recommend.versions import PublishedVersion, VersionTable

FORMATS = {"auto": "Detect", "generic": "Generic CSV / JSON Lines", "otto": "OTTO sessions"}
DIMENSIONS = {"algorithm": "By algorithm", "strategy": "By strategy"}
TOP_DEFAULT, TOP_MAX = 20, 200
SHOWN_IMPACT = ("ctr", "conversion")  # the rates of the dashboards; the table adds conversion per click
IMPACT_PERCENT = ["before", "before_low", "before_high", "after", "after_low", "after_high", "difference"]

rt = get_runtime()
known = list(rt.config.strategies)  # read once: a publish during this run must not mix two configs' names
st.title("Analytics", anchor=False)
headline = st.container(key="an-headline")
board, data = st.tabs(["Dashboards", "Event data"])


def table(frame: pd.DataFrame, *, key: str, file_name: str, percent: list[str] | None = None) -> None:
    """A table and, under it, its CSV download; `percent` names the columns shown as percentages (by default
    the rate columns the dashboards know by name)."""
    with st.container(key=key):
        st.dataframe(frame, hide_index=True, key=f"{key}-table", column_config={
            c: st.column_config.NumberColumn(c, format="percent")
            for c in (D.percent_columns(frame) if percent is None else percent)})
        st.download_button("CSV", D.csv_bytes(frame), file_name=file_name, mime="text/csv", key=f"{key}-csv",
                           icon=":material/download:", on_click="ignore")


def chart(fig, *, key: str) -> None:
    with st.container(key=key):
        st.plotly_chart(fig, key=f"{key}-plot")


def percent_axis(fig, title: str):
    fig.update_yaxes(tickformat=".1%", title=title, rangemode="tozero")
    return fig


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """An experiment's results with each variant's strategy as the dashboards name it ("(retired)" once the
    config no longer has it)."""
    labels = strategy_labels(frame["config"].tolist(), known)
    return frame.assign(config=[labels.get(c, c) for c in frame["config"]])


def rate_metric(change: RateChange, version: int) -> None:
    """A rate under `version`, its change in points against the version before and the p-value; the tooltip
    says it in words with both intervals (n/a where a side's rate does not exist)."""
    after = "n/a" if change.after.value is None else f"{100 * change.after.value:.2f}%"
    delta = None if change.difference is None else f"{100 * change.difference:+.2f} points (p = {change.p_value:.3g})"
    st.metric(f"{change.label}, version {version}", after, delta=delta, help=describe(change))


def went_live(number: int, published: dict[int, PublishedVersion]) -> str:
    """When a version went live and who published it, from the version history."""
    v = published.get(number)
    if v is None:
        return f"version {number} (not in this database's history: its events came from elsewhere)"
    restores = f", restoring version {v.restores}" if v.restores else ""
    said = f": “{v.message}”" if v.message else ""
    return f"version {number}, live since {when(v.created_at)}, published by {v.author}{restores}{said}"


# ---- event data (first: an import or removal shows in the dashboards of the same run) --------------------------
def remove_simulated_events() -> None:
    st.session_state["an_sim_confirm"] = False
    try:
        remember("an_removed", remove_simulated(rt.db))
    except VitrinaError as e:
        remember("an_removed", str(e))
    put("an_dates", D.span(rt.db))  # the date range follows the remaining data


with data:
    st.subheader("Import events", anchor=False)
    st.caption("A generic CSV (header row) or JSON Lines file with kind, ts, session_id and product_id or sku "
               "(optional: user_id, source_product_id, query, algorithm, strategy, position, score, experiment, "
               "variant, filters, event_id), or OTTO session lines. Gzip is unpacked. Importing a file twice adds "
               "nothing; rejected rows are listed with their line numbers.")
    upload = st.file_uploader("Event file", type=["csv", "jsonl", "json", "ndjson", "txt", "gz"],
                              key="an_events_file")
    fmt = kept(st.radio, "Format", list(FORMATS), key="an_events_format", default="auto", horizontal=True,
               format_func=FORMATS.__getitem__, valid=lambda v: v in FORMATS)
    if st.button("Import events", key="an_events_import", disabled=upload is None, icon=":material/upload_file:"):
        report = attempt(import_events, rt.db, upload.getvalue(), format=fmt,
                         progress=LiveProgress("importing events"))
        if report is not None:
            remember("an_import", (upload.name, report))
            put("an_dates", D.span(rt.db))  # the date range follows the new data
    done = value("an_import")
    if done is not None:
        name, report = done
        with st.container(key="an-import-report", border=True):
            st.markdown(f"**Import of {name}** ({report.format})")
            with st.container(horizontal=True):
                st.metric("Rows", count(report.rows))
                st.metric("Inserted", count(report.inserted))
                st.metric("Already present", count(report.duplicates))
                st.metric("Rejected", count(len(report.rejected)))
            if report.rejected:
                table(pd.DataFrame(report.rejected, columns=["line", "reason"]), key="an-rejected",
                      file_name="rejected-events.csv")
            else:
                st.success("No row was rejected.", icon=":material/check_circle:")

    st.subheader("Simulated traffic", anchor=False)
    removed = value("an_removed")
    if isinstance(removed, int):
        st.success(f"Removed {count(removed)} simulated events and the simulator's experiments.",
                   icon=":material/delete:")
    elif isinstance(removed, str):
        st.error(removed)
    simulated = simulated_count(rt.db)
    if simulated:
        st.caption(f"{count(simulated)} events in the log were made by the demo traffic simulator. Removing them "
                   "also removes the simulator's experiments; imported and live events stay.")
        sure = st.checkbox(f"Yes, delete the {count(simulated)} simulated events", key="an_sim_confirm")
        st.button("Remove simulated events", key="an_sim_remove", disabled=not sure, type="primary",
                  icon=":material/delete:", on_click=remove_simulated_events)
    else:
        st.info("The log holds no simulated events.")

# ---- scope ----------------------------------------------------------------------------------------------------
everything = D.span(rt.db)
bar = st.sidebar
bar.header("Traffic", anchor=False)
if everything is None:
    with board:
        st.info("The event log is empty: import an event file on the Event data tab, or run the simulator "
                "(`python -m engine simulate`).")
    st.stop()
dates = kept(bar.date_input, "Dates (UTC)", key="an_dates", default=everything,
             valid=lambda v: isinstance(v, (tuple, list)) and len(v) <= 2 and all(isinstance(d, date) for d in v),
             help=f"Events run from {everything[0]} to {everything[1]}. Both ends are included.")
names = D.algorithms(rt.db)
chosen = kept(bar.multiselect, "Algorithms", names, key="an_algorithms", default=[], placeholder="All algorithms",
              valid=lambda v: isinstance(v, list) and all(x in names for x in v))
with_simulated = kept(bar.checkbox, "Include simulated traffic", key="an_simulated", default=True,
                      help="The demo traffic simulator marks its events; real and imported events are always shown.")

with board:
    scope = attempt(D.make_scope, dates, chosen, with_simulated)
    if scope is None:
        st.stop()
    if D.span(rt.db, scope) is None:
        st.info("No events in this date range for these algorithms: widen the filters in the sidebar.")
        st.stop()
    gap = gap_warning(incomplete(rt.db, scope.start, scope.end))
    if gap is not None:  # the service dropped served lists in this period: its rates undercount impressions
        st.warning(gap, icon=":material/warning:")

# ---- the week's answer ----------------------------------------------------------------------------------------
answer = D.week_answer(rt.db, scope)
with headline, st.container(border=True):
    st.markdown(f"**{answer.headline()}**: which algorithm has the best CTR and conversion?")
    for line in answer.sentences():
        st.markdown(line)

# ---- dashboards -----------------------------------------------------------------------------------------------
with board:
    for by, title in DIMENSIONS.items():
        st.subheader(title, anchor=False)
        rates = D.rate_table(rt.db, by, scope, known_strategies=known)
        if rates.empty:
            st.info(f"No event in this scope names its {by}.")
            continue
        for column, (rate, label) in zip(st.columns(2), D.RATES.items()):
            with column:
                bars = D.error_bars(rates, by, rate)
                fig = px.bar(bars, x=by, y="value", error_y="plus", error_y_minus="minus",
                             title=f"{label} per {by}, with 95% intervals", hover_data=["low", "high"])
                chart(percent_axis(fig, f"{label} ({D.RATE_HELP[rate]})"), key=f"an-{rate}-{by}")
        table(rates, key=f"an-rates-{by}", file_name=f"rates-by-{by}.csv")

    st.subheader("Funnel", anchor=False)
    stages = funnel(rt.db, scope)
    fig = px.funnel(stages, x="events", y="stage", title="Impression → click → cart → purchase (events)")
    fig.update_traces(textinfo="value+percent previous")
    chart(fig, key="an-funnel")
    table(stages, key="an-funnel-table", file_name="funnel.csv")

    st.subheader("CTR by position", anchor=False)
    curve = D.position_curve(rt.db, scope)
    if curve.empty:
        st.info("No impression in this scope records its position in the list.")
    else:
        fig = px.line(curve, x="position", y="ctr", color="algorithm", markers=True,
                      title="Position bias: CTR per slot (0 = first)")
        chart(percent_axis(fig, "CTR"), key="an-position")
        with st.expander("Table: CTR per position and algorithm"):
            table(curve, key="an-position-table", file_name="ctr-by-position.csv")

    st.subheader("Daily trend", anchor=False)
    trend = D.daily_trend(rt.db, scope)
    rate = kept(st.radio, "Rate", list(D.RATES), key="an_trend_rate", default="ctr", horizontal=True,
                format_func=D.RATES.__getitem__, valid=lambda v: v in D.RATES)
    fig = px.line(trend, x="day", y=rate, color="algorithm", markers=True,
                  title=f"{D.RATES[rate]} per UTC day and algorithm")
    chart(percent_axis(fig, f"{D.RATES[rate]} ({D.RATE_HELP[rate]})"), key="an-daily")
    with st.expander("Table: counts and rates per day and algorithm"):
        table(trend, key="an-daily-table", file_name="daily.csv")

    st.subheader("Top products", anchor=False)
    by_col, n_col, min_col = st.columns(3)
    with by_col:
        top_by = kept(st.selectbox, "Rank by", list(TOP_BY), key="an_top_by", default="purchases",
                      valid=lambda v: v in TOP_BY)
    with n_col:
        top_n = kept(st.number_input, "How many", key="an_top_n", default=TOP_DEFAULT, min_value=1,
                     max_value=TOP_MAX, step=1, valid=lambda v: isinstance(v, int) and 1 <= v <= TOP_MAX)
    with min_col:
        top_min = kept(st.number_input, "At least this many impressions", key="an_top_min", default=0, min_value=0,
                       step=1, valid=lambda v: isinstance(v, int) and v >= 0,
                       help="Keeps a product shown once and clicked once from topping a CTR ranking.")
    top = attempt(top_products, rt.db, n=int(top_n), by=top_by, scope=scope, min_impressions=int(top_min))
    if top is not None:
        table(top, key="an-top", file_name=f"top-products-by-{top_by}.csv")

    st.subheader("Experiment results", anchor=False)
    experiments = {e.name: e for e in list_experiments(rt.db)}
    if not experiments:
        st.info("No experiment yet: create one on the Experiments page.")
    else:
        picked = kept(st.selectbox, "Experiment", list(experiments), key="an_experiment",
                      default=next(iter(experiments)), valid=lambda v: v in experiments,
                      format_func=lambda n: f"{n} ({experiments[n].status})")
        res = attempt(results, rt.db, picked, scope)
        if res is not None:
            for note in res.notes:
                st.warning(note)
            bars = D.variant_bars(res)
            fig = px.bar(bars, x="variant", y="value", color="metric", barmode="group", error_y="plus",
                         error_y_minus="minus", hover_data=["low", "high"],
                         title=f"{picked}: CTR and conversion per variant, with 95% intervals")
            chart(percent_axis(fig, "Rate"), key="an-experiment")
            table(labelled(res.table), key="an-experiment-table", file_name=f"experiment-{picked}.csv")
            st.caption("Differences against control, their confidence intervals and p-values are in the table; the "
                       "Experiments page answers whether a variant is better and stops an experiment.")

    st.subheader("Impact of a config version", anchor=False)
    st.caption("The events served under a published version against those served under the version before it "
               "that has events (every event records the live version of its list). All dates and algorithms; "
               "simulated traffic only when the sidebar includes it.")
    versions = logged_versions(rt.db, with_simulated)
    if not versions:
        st.info("No event in this log records the config version that served it"
                + ("." if with_simulated else " among real traffic: include simulated traffic in the sidebar."))
    else:
        published = {v.number: v for v in VersionTable(rt.db).list()}
        newest_first = versions[::-1]
        version = kept(st.selectbox, "Version", newest_first, key="an_version", default=newest_first[0],
                       valid=lambda v: v in versions,
                       format_func=lambda n: f"version {n}" + (f" (live since {when(published[n].created_at)})"
                                                               if n in published else ""))
        impact = attempt(version_impact, rt.db, version, include_simulated=with_simulated)
        if impact is not None:
            with st.container(key="an-impact", border=True):
                st.markdown(f"**After**: {went_live(impact.version, published)}.")
                if impact.previous is not None:
                    st.markdown(f"**Before**: {went_live(impact.previous, published)}.")
                for note in impact.notes:
                    st.info(note[:1].upper() + note[1:] + ".")
                if impact.previous is not None and impact.before["impressions"] and impact.after["impressions"]:
                    with st.container(horizontal=True):
                        for name in SHOWN_IMPACT:
                            rate_metric(getattr(impact, name), impact.version)
                    table(impact.as_frame(), key="an-impact-table", file_name=f"impact-of-version-{version}.csv",
                          percent=IMPACT_PERCENT)
                    st.caption(f"Intervals: {impact.interval_method}; difference after − before: {impact.test}. "
                               f"Rates: {', '.join(COMPARED.values())}.")
