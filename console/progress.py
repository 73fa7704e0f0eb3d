"""A live st.progress bar fed by the engine's progress(done, total) callbacks."""
from __future__ import annotations

import streamlit as st


class LiveProgress:
    def __init__(self, label: str, where=None):
        self.label = label
        self.bar = (where or st).progress(0, text=f"{label}: starting")

    def __call__(self, done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total else 1.0
        self.bar.progress(fraction, text=f"{self.label}: {done:,} / {total:,}")

    def finish(self, text: str) -> None:
        self.bar.progress(1.0, text=text)
