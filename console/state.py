"""Widget values that survive page switches.

Streamlit forgets a widget's value as soon as a run does not draw it (another page is open). A kept widget
mirrors its value under a key of our own on every change and is given that value back before it is drawn
again, on whichever page draws it: pages that draw a widget under the same key share its value (the
sidebar filters of the search pages, for example)."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

MIRROR = "kept::"


def _save(key: str, then: Callable[[], None] | None) -> None:
    st.session_state[MIRROR + key] = st.session_state[key]
    if then is not None:
        then()


def saved(key: str, default: Any = None) -> Any:
    """The kept value of a widget (also while the widget is not drawn)."""
    return st.session_state.get(MIRROR + key, default)


def put(key: str, value: Any) -> None:
    """Set a kept widget's value from code; call it from a callback or before the widget is drawn."""
    st.session_state[MIRROR + key] = value
    st.session_state[key] = value


def kept(widget: Callable[..., Any], label: str, *args: Any, key: str, default: Any = None,
         valid: Callable[[Any], bool] | None = None, on_change: Callable[[], None] | None = None,
         **kwargs: Any) -> Any:
    """Draw `widget(label, *args, key=key, **kwargs)` with the value it had last time (or `default`).

    `valid` rejects a remembered value that no longer fits the widget (an option that disappeared after an
    import, a price outside the new range); the default is used instead. Do not pass `value=`/`index=`:
    the value comes from the session state."""
    ss = st.session_state
    value = ss.get(MIRROR + key, default)
    if valid is not None and not valid(value):
        value = default
    ss[MIRROR + key] = value
    ss[key] = value
    return widget(label, *args, key=key, on_change=_save, args=(key, on_change), **kwargs)


def value(key: str, default: Any = None) -> Any:
    """A plain (non-widget) session value owned by a page, e.g. the last photo given on Visual search."""
    return st.session_state.get(key, default)


def remember(key: str, val: Any) -> None:
    st.session_state[key] = val
