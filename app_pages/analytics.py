"""Analytics: how the recommendation lists perform over one period (the sidebar's picker, shared with the
Overview page): the headline figures against the period before, revenue, CTR and conversion per algorithm and
strategy with 95% intervals, the funnel, position bias, daily trends, top products by name, search insights,
experiment results and the impact of a published config version; and the event data behind them (import an
event file, remove the simulated traffic). The dashboards are in sections (lazy tabs, the last one picked kept):
only the open one runs, so a run reads what it shows.

Every chart and table states its period; a period in which the service dropped served lists or into which an
import is still writing is labelled incomplete (engine.insights.period). View logic lives in
console.analytics_view, console.period, console.search_view and console.tables; this page draws.

Strategy names are the live config's: a name the log or an experiment holds and the config no longer has is
shown as "name (retired)", never dropped (engine.insights.analytics.strategy_labels)."""
import pandas as pd
import plotly.express as px
import streamlit as st

from console import analytics_view as V
from console import period as P
from console import tables as T
from console.errors import attempt
from console.fmt import count, when
from console.photos import photo_source
from console.progress import LiveProgress
from console.runtime import get_runtime
from console.search_view import search_panel
from console.state import kept, remember, value
from engine.errors import VitrinaError
from engine.insights import dashboards as D
from engine.insights.analytics import TOP_BY, top_products
from engine.insights.event_import import import_events
from engine.insights.experiments import list_experiments, results
from engine.insights.impact import COMPARED, RateChange, describe, logged_versions, version_impact
from engine.insights.planner import served_label, variant_label
from engine.insights.revenue import revenue_summary
from engine.insights.simulate import remove_simulated, simulated_count
from engine.recommend.versions import PublishedVersion, VersionTable

SECTIONS = ("Rates and revenue", "Funnel and trends", "Products and search", "Experiments and impact", "Event data")
FORMATS = {"auto": "Detect", "generic": "Generic CSV / JSON Lines", "otto": "OTTO sessions"}
DIMENSIONS = {"algorithm": "By algorithm", "strategy": "By strategy"}
TOP_DEFAULT, TOP_MAX = 20, 200
SHOWN_IMPACT = ("ctr", "conversion")  # the rates of the dashboards; the table adds conversion per click
IMPACT_PERCENT = ["before", "before_low", "before_high", "after", "after_low", "after_high", "difference"]

rt = get_runtime()
known = list(rt.config.strategies)  # read once: a publish during this run must not mix two configs' names
st.title("Analytics", anchor=False)
notices = st.container(key="an-notices")  # what the period picked says of itself (a bad range, dropped lists)
headline = st.container(key="an-headline")
# Only the open section runs (lazy tabs): a run reads what it shows, not every dashboard of the page.
rates_tab, funnel_tab, products_tab, experiments_tab, data = kept(
    st.tabs, list(SECTIONS), key="an_section", default=SECTIONS[0], valid=lambda v: v in SECTIONS)


def chart(fig, *, key: str) -> None:
    with st.container(key=key):
        st.plotly_chart(fig, key=f"{key}-plot")


def percent_axis(fig, title: str):
    fig.update_yaxes(tickformat=".1%", title=title, rangemode="tozero")
    return fig


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """An experiment's results with each variant's strategy named as the dashboards name it (a strategy the
    config no longer has: "similar (retired)")."""
    return frame.assign(config=[served_label(c, known) if c is not None else None for c in frame["config"]])


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


def event_data() -> None:
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
                T.show(pd.DataFrame(report.rejected, columns=["line", "reason"]), key="an-rejected",
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


if data.open:
    with data:
        event_data()

# ---- the period -----------------------------------------------------------------------------------------------
everything = D.span(rt.db)
bar = st.sidebar
bar.header("Traffic", anchor=False)
if everything is None:
    with notices:
        st.info("The event log is empty: import an event file on the Event data tab, or run the simulator "
                "(`python -m engine simulate`).")
    st.stop()
preset, dates = P.picker(bar, kept, last_event_day=everything[1])
names = D.algorithms(rt.db)
chosen = kept(bar.multiselect, "Algorithms", names, key="an_algorithms", default=[], placeholder="All algorithms",
              valid=lambda v: isinstance(v, list) and all(x in names for x in v))
with_simulated = kept(bar.checkbox, "Include simulated traffic", key="an_simulated", default=True,
                      help="The demo traffic simulator marks its events; real and imported events are always shown.")
bar.caption(f"The log runs from {everything[0]} to {everything[1]}.")

with notices:
    period = attempt(P.choose, preset, dates, last_event_day=everything[1])
    if period is None:
        st.stop()
    period = period.with_gaps(rt.db)
    before = period.previous()
    simulated = None if with_simulated else False
    scope, earlier = period.scope(chosen, simulated), before.scope(chosen, simulated)
    when_text = period.text()
    earned = attempt(revenue_summary, rt.db, period.start, period.end, simulated)
    earned_before = attempt(revenue_summary, rt.db, before.start, before.end, simulated)
    if period.gaps is not None:  # the service dropped served lists in this period: its rates undercount
        st.warning(period.gaps, icon=":material/warning:")

# ---- the headline: the period against the one before -----------------------------------------------------------
with headline, st.container(border=True):
    st.markdown(f"**{when_text[:1].upper() + when_text[1:]}**, compared with the {before.text()}")
    with st.container(horizontal=True, key="an-figures"):
        for f in V.figures(rt.db, scope, earlier):
            st.metric(f.label, f.value(), delta=f.delta(), help=f.help or None, border=True,
                      delta_color="off" if f.key == "impressions" else "normal")
    if earned is not None and earned_before is not None:
        with st.container(horizontal=True, key="an-money"):
            for f in V.money_figures(V.money(earned, chosen), V.money(earned_before, chosen)):
                st.metric(f.label, f.value(), delta=f.delta(), help=f.help or None, border=True)
        if earned.purchases_without_price:
            st.caption(f"{count(earned.purchases_without_price)} purchases in this period carry no price: they "
                       "count as purchases, not as revenue.")
    lines = [r.sentence() for r in D.races(rt.db, scope)]
    for line in lines or ["No algorithm had impressions in this period."]:
        st.markdown(line)
    st.caption(V.denominator(rt.db, scope))

# ---- dashboards, a section each -----------------------------------------------------------------------------
if D.span(rt.db, scope) is None:
    with notices:
        st.info(f"No events in the {when_text} for these algorithms: pick a longer period or other algorithms "
                "in the sidebar.")
    st.stop()


def rates_and_revenue() -> None:
    for by, title in DIMENSIONS.items():
        st.subheader(title, anchor=False)
        rates = D.rate_table(rt.db, by, scope, known_strategies=known)
        if rates.empty:
            st.info(f"No event in the {when_text} names its {by}.")
            continue
        for column, (rate, label) in zip(st.columns(2), D.RATES.items()):
            with column:
                bars = D.error_bars(rates, by, rate)
                fig = px.bar(bars, x=by, y="value", error_y="plus", error_y_minus="minus",
                             title=f"{label} per {by}<br><sup>{when_text}</sup>", hover_data=["low", "high"],
                             labels={by: T.words(by)})
                chart(percent_axis(fig, f"{label} ({D.RATE_HELP[rate]}), 95% intervals"), key=f"an-{rate}-{by}")
        T.show(rates, key=f"an-rates-{by}", file_name=f"rates-by-{by}.csv")

    st.subheader("Revenue", anchor=False)
    if earned is not None and earned.orders:
        money_by = kept(st.radio, "Credited to", list(V.REVENUE_GROUPS), key="an_revenue_by", default="algorithm",
                        horizontal=True, format_func=V.REVENUE_GROUPS.__getitem__,
                        valid=lambda v: v in V.REVENUE_GROUPS)
        earned_by = V.revenue_bars(earned, money_by)
        if chosen and money_by == "algorithm":
            earned_by = earned_by[earned_by["algorithm"].isin(chosen)].reset_index(drop=True)
        fig = px.bar(earned_by, x=money_by, y="revenue", error_y="plus", error_y_minus="minus",
                     hover_data=["orders", "aov", "revenue_per_mille"], labels={money_by: T.words(money_by),
                                                                                "revenue": "Revenue"},
                     title=f"Revenue per {T.words(money_by).lower()}, with 95% intervals<br><sup>{when_text}</sup>")
        fig.update_yaxes(rangemode="tozero")
        chart(fig, key="an-revenue")
        T.show(earned_by.drop(columns=["plus", "minus"]), key="an-revenue-table",
               file_name=f"revenue-by-{money_by}.csv")
        st.caption(V.ATTRIBUTION + ("" if not chosen or money_by == "algorithm" else
                                    " This grouping covers every algorithm, not only those chosen."))
    else:
        st.info(f"No purchase with a price in the {when_text}.")


def funnel_and_trends() -> None:
    st.subheader("Funnel", anchor=False)
    funnel_by = kept(st.radio, "Count", list(V.FUNNEL_VIEWS), key="an_funnel_by", default="sessions",
                     horizontal=True, format_func=V.FUNNEL_VIEWS.__getitem__, valid=lambda v: v in V.FUNNEL_VIEWS,
                     help="Sessions: how many shopping sessions reached each stage (a shopper who clicks twice "
                          "counts once). Events: how many tiles, clicks, cart adds and purchases there were.")
    stages = V.funnel_view(rt.db, scope, funnel_by)
    rate_col = "session_rate" if funnel_by == "sessions" else "event_rate"
    fig = px.funnel(stages, x=funnel_by, y="stage", title=f"Funnel by {funnel_by}<br><sup>{when_text}</sup>",
                    labels={funnel_by: T.words(funnel_by), "stage": "Stage"})
    fig.update_traces(textinfo="value+percent previous")
    chart(fig, key="an-funnel")
    T.show(stages[["stage", funnel_by, rate_col]], key="an-funnel-table", file_name=f"funnel-by-{funnel_by}.csv")

    st.subheader("CTR by position", anchor=False)
    curve = D.position_curve(rt.db, scope)
    if curve.empty:
        st.info(f"No impression in the {when_text} records its position in the list.")
    else:
        fig = px.line(curve, x="position", y="ctr", color="algorithm", markers=True,
                      title=f"Position bias: CTR per slot (0 = first)<br><sup>{when_text}</sup>",
                      labels={"position": T.words("position"), "algorithm": "Algorithm"})
        chart(percent_axis(fig, "CTR"), key="an-position")
        with st.expander("Table: CTR per position and algorithm"):
            T.show(curve, key="an-position-table", file_name="ctr-by-position.csv")

    st.subheader("Daily trend", anchor=False)
    trend = D.daily_trend(rt.db, scope)
    rate = kept(st.radio, "Rate", list(D.RATES), key="an_trend_rate", default="ctr", horizontal=True,
                format_func=D.RATES.__getitem__, valid=lambda v: v in D.RATES)
    fig = px.line(trend, x="day", y=rate, color="algorithm", markers=True,
                  title=f"{D.RATES[rate]} per UTC day and algorithm<br><sup>{when_text}</sup>",
                  labels={"day": "Day (UTC)", "algorithm": "Algorithm"})
    chart(percent_axis(fig, f"{D.RATES[rate]} ({D.RATE_HELP[rate]})"), key="an-daily")
    with st.expander("Table: counts and rates per day and algorithm"):
        T.show(trend, key="an-daily-table", file_name="daily.csv")


def products_and_search() -> None:
    st.subheader("Top products", anchor=False)
    by_col, n_col, min_col = st.columns(3)
    with by_col:
        top_by = kept(st.selectbox, "Rank by", list(TOP_BY), key="an_top_by", default="purchases",
                      format_func=T.words, valid=lambda v: v in TOP_BY)
    with n_col:
        top_n = kept(st.number_input, "How many", key="an_top_n", default=TOP_DEFAULT, min_value=1,
                     max_value=TOP_MAX, step=1, valid=lambda v: isinstance(v, int) and 1 <= v <= TOP_MAX)
    with min_col:
        top_min = kept(st.number_input, "At least this many impressions", key="an_top_min", default=0, min_value=0,
                       step=1, valid=lambda v: isinstance(v, int) and v >= 0,
                       help="Keeps a product shown once and clicked once from topping a CTR ranking.")
    top = attempt(top_products, rt.db, n=int(top_n), by=top_by, scope=scope, min_impressions=int(top_min))
    if top is not None:
        T.show(T.readable_products(rt.db, top, photo_source=photo_source), key="an-top",
               file_name=f"top-products-by-{top_by}.csv", hide=["product_id"],
               caption=f"{T.words(top_by)} in the {when_text}; the CSV keeps the product ids.")

    st.subheader("Search", anchor=False)
    search_panel(rt.db, period)


def experiments_and_impact() -> None:
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
            served = dict(zip(res.table["variant"], res.table["config"]))
            bars["variant"] = [variant_label(v, served.get(v), known) for v in bars["variant"]]
            fig = px.bar(bars, x="variant", y="value", color="metric", barmode="group", error_y="plus",
                         error_y_minus="minus", hover_data=["low", "high"],
                         title=f"{picked}: CTR and conversion per variant<br><sup>{when_text}</sup>")
            chart(percent_axis(fig, "Rate, 95% intervals"), key="an-experiment")
            T.show(labelled(res.table), key="an-experiment-table", file_name=f"experiment-{picked}.csv")
            st.caption("The Experiments page says in words whether a variant is better, checks the traffic split "
                       "and plans how long to run; it also stops an experiment.")

    st.subheader("Impact of a config version", anchor=False)
    st.caption("The events served under a published version against those served under the version before it "
               "that has events (every event records the live version of its list). All dates and algorithms, "
               "not only the period; simulated traffic only when the sidebar includes it.")
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
                    T.show(impact.as_frame(), key="an-impact-table", file_name=f"impact-of-version-{version}.csv",
                           percent=IMPACT_PERCENT)
                    st.caption(f"Intervals: {impact.interval_method}; difference after − before: {impact.test}. "
                               f"Rates: {', '.join(COMPARED.values())}.")


for tab, section in ((rates_tab, rates_and_revenue), (funnel_tab, funnel_and_trends),
                     (products_tab, products_and_search), (experiments_tab, experiments_and_impact)):
    if tab.open:
        with tab:
            section()
