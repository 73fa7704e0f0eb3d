"""What the console did in this process (the last import, the first start's demo preparation), shared by all
sessions of one data location so the Overview can show it."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Generic, Iterator, TypeVar

import streamlit as st

from engine.catalog.importers import ImportReport

from .runtime import location

R = TypeVar("R")
BUSY = "Another indexing, import or repair is running in this console: try again when it has finished."


@dataclass
class Done(Generic[R]):
    at: datetime
    report: R


@dataclass
class Activity:
    last_import: Done[ImportReport] | None = None
    prepared: Done[dict] | None = None  # what the demo preparation of the first start did (engine.demo)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    writing: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        """One index-changing job (indexing, import, repair) at a time across all sessions: yields False
        when another one is running, so the page can say so instead of starting a second."""
        got = self.writing.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                self.writing.release()

    def record(self, report: ImportReport | dict) -> Done:
        done = Done(datetime.now(timezone.utc).replace(tzinfo=None), report)
        with self.lock:
            if isinstance(report, dict):
                self.prepared = done
            else:
                self.last_import = done
        return done


@st.cache_resource(show_spinner=False)
def _activity(data_dir: str, sql_url: str, qdrant_url: str) -> Activity:
    return Activity()


def activity() -> Activity:
    return _activity(*location())


def exclusive_job(log: Activity, job: Callable[[], R]) -> R | None:
    """Run `job` unless another index-changing job is running, in which case say so and return None."""
    with log.exclusive() as free:
        if not free:
            st.warning(BUSY, icon=":material/hourglass_top:")
            return None
        return job()
