"""Experiments: create an A/B test of ranking strategies, follow each variant against control (difference, its
confidence interval, p-value, the answer in words) and stop it with a winner.

A variant serves one of the live config's strategies: the form offers exactly those (the default first) and
the engine refuses any other name, so a strategy deleted between drawing the form and submitting it is not
served. An experiment created earlier may name a strategy the config has since lost: its tables show it as
"name (retired)" (engine.insights.analytics.strategy_labels)."""
import plotly.express as px
import streamlit as st

from console.errors import attempt
from console.runtime import get_runtime
from console.state import kept, put
from engine.insights import dashboards as D
from engine.insights.analytics import strategy_labels
from engine.insights.experiments import create_experiment, list_experiments, results, stop

NO_WINNER = ""  # stop without a winner: everyone gets control

rt = get_runtime()
config = rt.config  # read once: a publish during this run must not mix two configs' names
strategies = [config.default_strategy, *(s for s in config.strategies if s != config.default_strategy)]
st.title("Experiments", anchor=False)
listing = st.container(key="xp-list")  # filled last, so it shows what this run created or stopped


def table(frame, *, key: str, file_name: str) -> None:
    """A table and, under it, its CSV download."""
    with st.container(key=key):
        st.dataframe(frame, hide_index=True, key=f"{key}-table", column_config={
            c: st.column_config.NumberColumn(c, format="percent") for c in D.percent_columns(frame)})
        st.download_button("CSV", D.csv_bytes(frame), file_name=file_name, mime="text/csv", key=f"{key}-csv",
                           icon=":material/download:", on_click="ignore")


def labelled(frame):
    """An experiment's results with each variant's strategy labelled "(retired)" once the config lacks it."""
    labels = strategy_labels(frame["config"].tolist(), strategies)
    return frame.assign(config=[labels.get(c, c) for c in frame["config"]])


# ---- create ---------------------------------------------------------------------------------------------------
st.subheader("New experiment", anchor=False)
st.caption("Each variant serves one ranking strategy to its share of shoppers (assignment is stable per shopper); "
           "the shares must sum to 1. The first variant is the control the others are compared with.")
n = kept(st.number_input, "Variants", key="xp_n", default=2, min_value=2, max_value=D.MAX_VARIANTS, step=1,
         valid=lambda v: isinstance(v, int) and 2 <= v <= D.MAX_VARIANTS)
names, shares = D.variant_names(int(n)), D.even_shares(int(n))
with st.form("xp_new", border=True):
    name = st.text_input("Name", key="xp_name", placeholder="e.g. home-balanced-vs-upsell")
    description = st.text_input("Description", key="xp_description")
    variants = []
    for i, (default_name, default_share) in enumerate(zip(names, shares)):
        name_col, strategy_col, share_col = st.columns([1, 2, 1])
        v_name = name_col.text_input(f"Variant {i + 1}" + (" (control)" if i == 0 else ""), value=default_name,
                                     key=f"xp_{n}_v{i}_name")
        v_strategy = strategy_col.selectbox("Strategy", strategies, index=i % len(strategies),
                                            key=f"xp_{n}_v{i}_strategy")
        v_share = share_col.number_input("Traffic share", min_value=0.0, max_value=1.0, value=default_share,
                                         step=0.05, format="%.2f", key=f"xp_{n}_v{i}_share")
        variants.append((v_name, v_strategy, v_share))
    submitted = st.form_submit_button("Create experiment", key="xp_create", type="primary", icon=":material/science:")
if submitted:
    created = attempt(create_experiment, rt.db, name, variants, description=description,
                      known_strategies=strategies)
    if created is not None:
        put("xp_pick", created.name)
        st.success(f"Experiment {created.name!r} created and running: "
                   + ", ".join(f"{v.name} serves {v.config} to {v.share:.0%}" for v in created.variants) + ".",
                   icon=":material/check_circle:")

# ---- results --------------------------------------------------------------------------------------------------
st.subheader("Results", anchor=False)
experiments = {e.name: e for e in list_experiments(rt.db)}
if not experiments:
    st.info("No experiment yet: create one above.")
else:
    picked = kept(st.selectbox, "Experiment", list(experiments), key="xp_pick", default=next(iter(experiments)),
                  valid=lambda e: e in experiments, format_func=lambda e: f"{e} ({experiments[e].status})")
    res = attempt(results, rt.db, picked)
    if res is not None:
        exp = res.experiment
        for note in res.notes:
            st.warning(note)
        verdicts = D.verdicts(res)
        with st.container(key="xp-answer", border=True):
            for question, answer in D.summary(verdicts).items():
                st.markdown(f"**{question}** {answer}.")
            for verdict in verdicts:
                st.markdown(f"- {verdict.text}")
        bars = D.variant_bars(res)
        fig = px.bar(bars, x="variant", y="value", color="metric", barmode="group", error_y="plus",
                     error_y_minus="minus", hover_data=["low", "high"],
                     title=f"{exp.name}: CTR and conversion per variant, with 95% intervals")
        fig.update_yaxes(tickformat=".1%", title="Rate", rangemode="tozero")
        with st.container(key="xp-chart"):
            st.plotly_chart(fig, key="xp-chart-plot")
        table(labelled(res.table), key="xp-results", file_name=f"experiment-{exp.name}.csv")

        # ---- stop -------------------------------------------------------------------------------------------
        if exp.status == "running":
            st.markdown("**Stop the experiment**: from then on every shopper gets the winner (control when none "
                        "is declared).")
            winners = [NO_WINNER, *(v.name for v in exp.variants)]
            suggested = res.leader if res.leader in winners else NO_WINNER
            winner = st.selectbox("Winner", winners, index=winners.index(suggested), key="xp_winner",
                                  format_func=lambda w: w or f"none (everyone gets control {exp.control})",
                                  help="Preselected: the variant whose CTR beats control by the largest significant "
                                       "margin, if any.")
            if st.button("Stop and declare the winner", key="xp_stop", type="primary", icon=":material/stop_circle:"):
                stopped = attempt(stop, rt.db, exp.name, winner or None)
                if stopped is not None:
                    st.success(f"Experiment {stopped.name!r} stopped: everyone now gets "
                               f"{stopped.winner or stopped.control}.", icon=":material/check_circle:")
        else:
            st.info(f"Stopped {exp.stopped_at:%Y-%m-%d %H:%M} UTC; "
                    + (f"winner {exp.winner}." if exp.winner else f"no winner: everyone gets control {exp.control}."))

# ---- the list (drawn at the top) ------------------------------------------------------------------------------
with listing:
    st.subheader("All experiments", anchor=False)
    everything = list_experiments(rt.db)
    if everything:
        table(D.experiment_table(everything, known_strategies=strategies), key="xp-all", file_name="experiments.csv")
    else:
        st.info("No experiment yet.")
