"""What the console did to the index in this process (last indexing run, drift check, import), shared by all
sessions of one data location so the Overview can show it."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Generic, TypeVar

import streamlit as st

from engine.catalog.importers import ImportReport
from engine.indexing import DriftReport, IndexReport

from .runtime import location

R = TypeVar("R")


@dataclass
class Done(Generic[R]):
    at: datetime
    report: R


@dataclass
class Activity:
    last_index: Done[IndexReport] | None = None
    last_check: Done[DriftReport] | None = None
    last_import: Done[ImportReport] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, report: IndexReport | DriftReport | ImportReport) -> Done:
        done = Done(datetime.now(timezone.utc).replace(tzinfo=None), report)
        with self.lock:
            if isinstance(report, IndexReport):
                self.last_index = done
            elif isinstance(report, DriftReport):
                self.last_check = done
            else:
                self.last_import = done
        return done


@st.cache_resource(show_spinner=False)
def _activity(data_dir: str, sql_url: str, qdrant_url: str) -> Activity:
    return Activity()


def activity() -> Activity:
    return _activity(*location())
