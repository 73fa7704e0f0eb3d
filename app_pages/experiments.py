"""Experiments: plan an A/B test of ranking strategies (how much traffic it needs to detect the change that
matters, and how many days that is at current traffic), create it, follow each variant against control (the
answer in words, the difference with its interval and p-value, a check that the traffic split matches the
design) and stop it with a winner.

A variant serves one of the live config's strategies: the form offers exactly those (the default first) and
the engine refuses any other name, so a strategy deleted between drawing the form and submitting it is not
served. Variants are named by what they serve ("B: upsell"); an experiment created earlier may name a strategy
the config has since lost ("similar (retired)"). The statistics live in engine.insights.planner."""
from datetime import timedelta

import plotly.express as px
import streamlit as st

from console import tables as T
from console.errors import attempt
from console.period import today
from console.runtime import get_runtime
from console.state import kept, put
from engine.insights import dashboards as D
from engine.insights import planner as PL
from engine.insights.experiments import create_experiment, list_experiments, results, stop

NO_WINNER = ""  # stop without a winner: everyone gets control
TRAFFIC_DAYS = 14  # the window "current traffic" is measured over

rt = get_runtime()
config = rt.config  # read once: a publish during this run must not mix two configs' names
strategies = [config.default_strategy, *(s for s in config.strategies if s != config.default_strategy)]
st.title("Experiments", anchor=False)
listing = st.container(key="xp-list")  # filled last, so it shows what this run created or stopped


def labelled(frame):
    """An experiment's results with each variant's strategy named as the dashboards name it."""
    return frame.assign(config=[PL.served_label(c, strategies) if c is not None else None
                                for c in frame["config"]])


# ---- plan -----------------------------------------------------------------------------------------------------
last = D.span(rt.db)
window_end = min(today(), last[1]) if last else today()
window = (window_end - timedelta(days=TRAFFIC_DAYS - 1), window_end)
daily, current_ctr = PL.current_traffic(rt.db, *window)
st.subheader("Plan an experiment", anchor=False)
st.caption(f"Current traffic: {daily:,.0f} impressions a day and a CTR of "
           + (f"{100 * current_ctr:.2f}%" if current_ctr is not None else "— (no impressions)")
           + f", over the {TRAFFIC_DAYS} days {window[0]} – {window[1]}.")
with st.container(key="xp-plan", border=True):
    base_col, mde_col, power_col, n_col = st.columns(4)
    baseline = kept(base_col.number_input, "Baseline CTR (%)", key="xp_baseline",
                    default=round(100 * current_ctr, 2) if current_ctr else 5.0, min_value=0.01, max_value=99.0,
                    step=0.1, format="%.2f", valid=lambda v: isinstance(v, float) and 0.01 <= v <= 99.0,
                    help="The control's rate: by default the CTR of the last 14 days.")
    mde = kept(mde_col.number_input, "Smallest lift worth detecting (%)", key="xp_mde", default=10.0,
               min_value=0.5, max_value=500.0, step=1.0, format="%.1f",
               valid=lambda v: isinstance(v, float) and 0.5 <= v <= 500.0,
               help="Relative to the baseline: 10% takes a 5.00% CTR to 5.50%. A smaller lift needs more traffic.")
    power = kept(power_col.selectbox, "Power", [0.8, 0.9], key="xp_power", default=0.8,
                 format_func=lambda p: f"{p:.0%}", valid=lambda v: v in (0.8, 0.9),
                 help="The chance of detecting the lift when it is real.")
    arms = kept(n_col.number_input, "Variants", key="xp_plan_n", default=2, min_value=2, max_value=D.MAX_VARIANTS,
                step=1, valid=lambda v: isinstance(v, int) and 2 <= v <= D.MAX_VARIANTS)
    planned = attempt(PL.plan, baseline / 100, mde / 100, shares=D.even_shares(int(arms)), power=power,
                      daily=daily)
    if planned is not None:
        with st.container(horizontal=True):
            st.metric("Impressions per variant", f"{max(planned.per_variant):,}", border=True)
            st.metric("In all", f"{planned.total:,}", border=True)
            st.metric("Days at current traffic", "—" if planned.days is None else f"{planned.days:,}", border=True)
        st.markdown(planned.sentence("CTR") + " Two-sided test at a 5% significance level, even traffic shares.")
        st.caption("Impressions of one shopper are not independent, so treat the days as a lower bound; run whole "
                   "weeks so weekdays and weekends are both in.")

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
        check = PL.experiment_check(rt.db, exp)
        with st.container(key="xp-srm"):
            if check.mismatch:
                st.error(check.sentence(), icon=":material/call_split:")
            else:
                st.caption(check.sentence())
        control = res.table[res.table["control"]].to_dict("records")
        plans = {}  # per rate: the lift planned for, over control's own rate (else the planner's baseline)
        for col, fallback in (("ctr", baseline / 100), ("conversion", None)):
            rate = control[0][col] if control else None
            base = rate if rate is not None and 0 < rate < 1 else fallback
            if base is not None:
                made = attempt(PL.plan, base, mde / 100, shares=[v.share for v in exp.variants], power=power,
                               daily=daily)
                if made is not None:
                    plans[col] = PL.needed_by_variant(exp, made)
        said = PL.verdicts(res, by_metric=plans)
        with st.container(key="xp-answer", border=True):
            for v in exp.variants:
                if v.name != exp.control:
                    st.markdown(f"**{PL.variant_label(v.name, v.config, strategies)}** against control "
                                f"**{PL.variant_label(exp.control, exp.variant(exp.control).config, strategies)}**: "
                                + PL.answer(said, v.name, exp.control))
            for verdict in said:
                st.markdown(f"- {verdict.text}")
            if plans:
                st.caption(f"Planned for a {mde:g}% lift over control's rate with {power:.0%} power (the planner "
                           "above sets both): " + "; ".join(
                               f"{PL.METRICS[col][0]} needs " + ", ".join(f"{k} {n:,}" for k, n in need.items())
                               for col, need in plans.items()) + " impressions.")
        st.info(PL.PEEKING, icon=":material/visibility_off:")
        bars = D.variant_bars(res)
        served = dict(zip(res.table["variant"], res.table["config"]))
        bars["variant"] = [PL.variant_label(v, served.get(v), strategies) for v in bars["variant"]]
        fig = px.bar(bars, x="variant", y="value", color="metric", barmode="group", error_y="plus",
                     error_y_minus="minus", hover_data=["low", "high"],
                     title=f"{exp.name}: CTR and conversion per variant, with 95% intervals, since "
                           f"{exp.created_at:%Y-%m-%d}")
        fig.update_yaxes(tickformat=".1%", title="Rate", rangemode="tozero")
        with st.container(key="xp-chart"):
            st.plotly_chart(fig, key="xp-chart-plot")
        T.show(labelled(res.table), key="xp-results", file_name=f"experiment-{exp.name}.csv")

        # ---- stop -------------------------------------------------------------------------------------------
        if exp.status == "running":
            st.markdown("**Stop the experiment**: from then on every shopper gets the winner (control when none "
                        "is declared).")
            winners = [NO_WINNER, *(v.name for v in exp.variants)]
            suggested = res.leader if res.leader in winners else NO_WINNER
            winner = st.selectbox("Winner", winners, index=winners.index(suggested), key="xp_winner",
                                  format_func=lambda w: (PL.variant_label(w, exp.variant(w).config, strategies) if w
                                                         else f"none (everyone gets control {exp.control})"),
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
        T.show(D.experiment_table(everything, known_strategies=strategies), key="xp-all", file_name="experiments.csv")
    else:
        st.info("No experiment yet.")
