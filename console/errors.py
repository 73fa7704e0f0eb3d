"""Engine errors carry messages meant for the user: the console shows them with st.error, never a traceback."""
from __future__ import annotations

from typing import Callable, TypeVar

import streamlit as st

from engine.errors import VitrinaError

T = TypeVar("T")


def attempt(call: Callable[..., T], *args, where=None, **kwargs) -> T | None:
    """`call(*args, **kwargs)`, or None after showing the engine's message (in `where`, default the page)."""
    try:
        return call(*args, **kwargs)
    except VitrinaError as e:
        (where or st).error(str(e))
        return None
