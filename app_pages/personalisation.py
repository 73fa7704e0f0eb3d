"""Personalisation: one shopper's recent events, the taste the engine learnt from them (interest per category,
usual price) and what it recommends to them, with "Not like this" on every result."""
import plotly.express as px
import streamlit as st

from console.errors import attempt
from console.fmt import count
from console.personal_view import (HISTORY_ROWS, disliked_grid, disliking_grid, history_frame, interest_frame,
                                   price_band)
from console.draft import get_recommender
from console.runtime import get_runtime
from console.state import kept, remember, value
from engine.recommend.personal import MAX_NOT_LIKE, SERVED_COLD_START, SERVED_DISABLED, SERVED_PERSONALISED
from engine.recommend.profiles import MAX_USER_ID_CHARS
from engine.insights.shoppers import history, shoppers

SERVED = {SERVED_PERSONALISED: ("Personalised", "green", ":material/person_check:"),
          SERVED_COLD_START: ("Cold start", "blue", ":material/trending_up:"),
          SERVED_DISABLED: ("Personalisation off", "orange", ":material/trending_up:")}
WHO = {"events": "Shopper with events", "typed": "Type a user id", "anonymous": "Anonymous visitor"}
MAX_SHOPPERS = 1000  # most recently active users offered in the list; any other is typed
DEFAULT_RESULTS = 12
ANON_NOT_LIKE = "personal_anon_not_like"  # an anonymous visitor's "not like this", kept for this session only

rt = get_runtime()
profiles = rt.recommender().profiles  # profiles and dislikes are the data location's, whatever the config
st.title("Personalisation", anchor=False)
st.caption("A shopper's taste, learnt from their clicks, cart adds and purchases, and the products it brings "
           "them, ranked with the working config of this session. \"Not like this\" moves their results away "
           "from a product.")

# ---- who -------------------------------------------------------------------------------------------------------
who_col, pick_col, n_col = st.columns([2, 4, 1], vertical_alignment="bottom")
with who_col:
    who = kept(st.radio, "Shopper", list(WHO), key="personal_who", default="events", horizontal=True,
               valid=lambda v: v in WHO, format_func=WHO.__getitem__)
user_id: str | None = None
with pick_col:
    if who == "events":
        known = {s.user_id: s for s in shoppers(rt.db, MAX_SHOPPERS)}
        user_id = kept(st.selectbox, "User", list(known), key="personal_user", default=next(iter(known), None),
                       valid=lambda v: v in known, format_func=lambda u: known[u].label,
                       placeholder="no events with a user id are logged yet",
                       help=f"The {MAX_SHOPPERS} most recently active users of the event log, latest first.")
    elif who == "typed":
        typed = kept(st.text_input, "User id", key="personal_typed", default="", max_chars=MAX_USER_ID_CHARS,
                     placeholder="as in the event log's user_id, e.g. a shop's customer id")
        user_id = typed.strip() or None
with n_col:
    limit = rt.settings.max_results
    n = kept(st.number_input, "Results", key="personal_n", default=min(DEFAULT_RESULTS, limit), min_value=1,
             max_value=limit, step=1, valid=lambda v: isinstance(v, int) and 1 <= v <= limit)

if who != "anonymous" and user_id is None:
    st.info("Pick a shopper from the list, or type a user id." if who == "events" else
            "Type a user id to see that shopper's taste and recommendations.")
    st.stop()


# ---- "not like this" -------------------------------------------------------------------------------------------
def anonymous_not_like() -> list[int]:
    return list(value(ANON_NOT_LIKE, []))


def not_like(product_id: int) -> None:
    if user_id is None:
        remember(ANON_NOT_LIKE, ([product_id] + [p for p in anonymous_not_like() if p != product_id])[:MAX_NOT_LIKE])
    else:
        attempt(profiles.dislike, user_id, product_id)


def show_again(product_id: int) -> None:
    if user_id is None:
        remember(ANON_NOT_LIKE, [p for p in anonymous_not_like() if p != product_id])
    else:
        attempt(profiles.undislike, user_id, product_id)


def clear_dislikes() -> None:
    if user_id is None:
        remember(ANON_NOT_LIKE, [])
        return
    for product_id in profiles.dislikes(user_id):
        profiles.undislike(user_id, product_id)


# ---- what is served ----------------------------------------------------------------------------------------------
recommender = attempt(get_recommender)  # the shared draft, as on every preview of the console
if recommender is None:
    st.stop()
result = attempt(recommender.personalised, user_id, n=n, not_like=anonymous_not_like() if user_id is None else ())
if result is None:
    st.stop()
profile = result.profile
personal = result.served == SERVED_PERSONALISED

with st.container(key="personal-served"):
    heading, colour, icon = SERVED.get(result.served, (result.served, "gray", ":material/help:"))
    st.badge(f"Served: {result.served}", icon=icon, color=colour)
    if personal:
        st.success(f"**{heading}** — {result.reason}.", icon=icon)
    else:
        st.info(f"**{heading}** — {result.reason}.", icon=icon)
    events, left_out, away = st.columns(3)
    events.metric("Interactions in the profile", count(profile.events) if profile is not None else "—",
                  help="The most recent weighted events (clicks, cart adds, purchases) the taste is learnt from.")
    left_out.metric("Left out", count(result.excluded), help="Products already bought, seen or marked "
                                                             "\"not like this\": not offered again.")
    away.metric("Moved away from", count(result.negatives),
                help="Products marked \"not like this\" the ranking moved away from.")

# ---- taste and history -------------------------------------------------------------------------------------------
if user_id is not None:
    taste_col, history_col = st.columns([2, 3])
    with taste_col, st.container(key="personal-taste"):
        st.subheader("Taste", anchor=False)
        band = price_band(profile)
        st.metric("Usual price", band if band is not None else "—",
                  help="The typical price of what they engage with, ± its spread (log scale).")
        interests = interest_frame(profile) if profile is not None else None
        if interests is None or interests.empty:
            st.caption("No category interest yet: it is learnt from clicks, cart adds and purchases of catalog "
                       "products.")
        else:
            fig = px.bar(interests, x="share", y="category", orientation="h", text_auto=".0%",
                         title="Interest per category")
            fig.update_xaxes(tickformat=".0%", title="share of interest", rangemode="tozero")
            fig.update_yaxes(title=None, autorange="reversed")
            fig.update_layout(height=max(220, 70 + 40 * len(interests)), margin=dict(l=0, r=0, t=40, b=0))
            st.plotly_chart(fig, key="personal-interests")
    with history_col, st.container(key="personal-history"):
        st.subheader("Recent history", anchor=False)
        impressions = kept(st.checkbox, "Include impressions", key="personal_impressions", default=False,
                           help="Lists the shopper was shown; they say nothing about taste on their own.")
        events_shown, total = history(rt.db, user_id, HISTORY_ROWS, impressions)
        if not events_shown:
            st.caption("No events logged for this user.")
        else:
            cards = rt.catalog.cards(sorted({e.product_id for e in events_shown}))
            st.dataframe(history_frame(events_shown, cards), hide_index=True, key="personal-history-table",
                         height=min(400, 38 + 35 * len(events_shown)), column_config={
                             "time": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm")})
            st.caption(f"Latest {count(len(events_shown))} of {count(total)} events"
                       + ("" if impressions else ", impressions left out") + ".")

# ---- recommendations ---------------------------------------------------------------------------------------------
st.subheader("Recommended for them" if user_id is not None else "Recommended for an anonymous visitor",
             anchor=False)
disliking_grid(result.items, key="grid-personal", not_like=not_like,
               empty="Nothing to recommend: no events are logged yet, so nothing is trending.")

disliked_ids = profiles.dislikes(user_id) if user_id is not None else anonymous_not_like()
with st.container(key="personal-dislikes"):
    st.subheader("Not like this", anchor=False)
    if not disliked_ids:
        st.caption("Nothing marked yet." + (" Marks of an anonymous visitor last for this session only."
                                             if user_id is None else ""))
    else:
        cards = rt.catalog.cards(disliked_ids)
        st.caption(f"{count(len(disliked_ids))} product{'s' if len(disliked_ids) != 1 else ''} marked, latest "
                   "first" + (" (kept for this session only)" if user_id is None else "") + ".")
        disliked_grid([cards[p] for p in disliked_ids if p in cards], key="grid-disliked", show_again=show_again)
        st.button("Clear dislikes", key="personal_clear", icon=":material/delete_sweep:", on_click=clear_dislikes)
