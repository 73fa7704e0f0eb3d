"""The console's single Runtime per data location, held in st.cache_resource.

The embedded vector store admits one opener per process, so every page, every browser session and the
tests running the app in-process must reach it through `engine.runtime.shared`, never build their own."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import streamlit as st

from engine.encoders import warm_text_encoder
from engine.jobs import ensure_runner
from engine.runtime import Runtime, shared
from engine.settings import Settings


@dataclass
class Startup:
    """Whether this process has already made sure the demo catalog is in place (one lock for all sessions)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    error: str | None = None  # why the preparation failed; not retried until the console restarts


@st.cache_resource(show_spinner=False)
def _runtime(data_dir: str, sql_url: str, qdrant_url: str) -> Runtime:
    rt = shared(Settings())
    warm_text_encoder(rt.text_encoder)  # the first text search would wait seconds for the model otherwise
    return rt


@st.cache_resource(show_spinner=False)
def _startup(data_dir: str, sql_url: str, qdrant_url: str) -> Startup:
    return Startup()


@lru_cache(maxsize=8)
def _settings(environment: frozenset) -> Settings:
    return Settings()


def settings() -> Settings:
    """The settings of the environment as it is now, read once per distinct environment: a page draws dozens
    of tiles and widgets that each need them, and reading every variable again costs ~2 ms a time."""
    return _settings(frozenset(os.environ.items()))


def location() -> tuple[str, str, str]:
    """The data location the environment points at: what a cached resource is kept per."""
    s = settings()
    return str(s.data_dir), s.sql_url, s.qdrant_url


def get_runtime() -> Runtime:
    """The Runtime of the data location the environment points at (one per process), with its background
    runner of indexing jobs going: every page reaches the runtime through here, whichever page a session
    opens first (a fresh server may run a page without app.py)."""
    rt = _runtime(*location())
    ensure_runner(rt)
    return rt


def startup_state() -> Startup:
    return _startup(*location())
