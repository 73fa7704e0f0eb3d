"""Tuning's what-if figures, computed off the page's script: a slider step queues the draft's figures on a
background worker and the page (sliders, preview) is drawn at once; the figures follow as soon as they are
ready (a small fragment polls, then the page runs once more to draw them).

At 100,000 products, with exact search, the figures of one config take one similar-items call per sample
product — about 2 s — and the page used to wait for both configs on every step. Figures already known (the
live version's, a config seen before) come from the what-if cache at once. One worker per process, so the
figures of many sessions queue instead of crowding the cores."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError as FutureTimeout
from typing import Callable

import streamlit as st

from engine.errors import VitrinaError
from engine.merchandising.whatif import WhatIf, what_if
from engine.recommend.config import RecoConfig, fingerprint
from engine.runtime import Runtime

GRACE_SECONDS = 0.3  # figures ready within this long are drawn in the same run (a cache hit, a small catalog)
POLL_SECONDS = 0.5
KEPT = 32  # finished futures kept, so a page drawn again finds its figures without queueing behind others
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitrina-whatif")
_PENDING: dict[tuple, Future] = {}
_LOCK = threading.Lock()


def _key(rt: Runtime, config: RecoConfig, strategy: str, k: int) -> tuple:
    return id(rt), fingerprint(config), strategy, k, rt.catalog.version()


def request(rt: Runtime, config: RecoConfig, strategy: str, k: int) -> Future:
    """The figures of `config` under `strategy`: a future, started on the worker unless already asked for."""
    key = _key(rt, config, strategy, k)
    with _LOCK:
        future = _PENDING.get(key)
        if future is None or (future.done() and future.exception() is not None):
            future = _PENDING[key] = _POOL.submit(what_if, rt, config, strategy, k=k)
        done = [k_ for k_, f in _PENDING.items() if f.done() and k_ != key]
        for old in done[:max(0, len(_PENDING) - KEPT)]:  # oldest first; what_if's own cache keeps their figures
            del _PENDING[old]
    return future


def _ready(future: Future, wait: float = 0.0) -> bool:
    try:
        future.result(timeout=wait)
    except FutureTimeout:
        return False
    except VitrinaError:
        return True
    return True


Draw = Callable[[WhatIf | None, WhatIf | None], None]


def _draw(after: Future, before: Future, draw: Draw) -> None:
    results = []
    for future in (after, before):
        try:
            results.append(future.result())
        except VitrinaError as e:
            st.error(str(e))
            results.append(None)
    draw(*results)


@st.fragment(run_every=POLL_SECONDS)
def _waiting(after: Future, before: Future) -> None:
    if _ready(after) and _ready(before):
        st.rerun()  # the whole page again: the figures are drawn there, and this polling stops
    with st.container(key="tuning-whatif-pending"):
        st.info("Ranking the sample products in the background: the figures appear here when they are ready.",
                icon=":material/hourglass_top:")


def whatif_panel(rt: Runtime, after: tuple[RecoConfig, str], before: tuple[RecoConfig, str], k: int,
                 draw: Draw) -> None:
    """Draw the figures of `after` (the draft) and `before` (the live version) with `draw`, now if they are
    ready within GRACE_SECONDS, else once the background worker has them."""
    try:
        after_future = request(rt, after[0], after[1], k)
        before_future = request(rt, before[0], before[1], k)
    except VitrinaError as e:
        st.error(str(e))
        return
    deadline = time.monotonic() + GRACE_SECONDS
    if _ready(after_future, GRACE_SECONDS) and _ready(before_future, max(0.0, deadline - time.monotonic())):
        _draw(after_future, before_future, draw)
    else:
        _waiting(after_future, before_future)
