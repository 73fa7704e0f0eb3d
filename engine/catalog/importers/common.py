"""What every importer shares: the report of what it did, the rejected-row record and progress reporting.

Importers first turn each source record into a validated `ProductData` (engine.catalog.importers.parsing holds
the readers and value parsers) or a `RowError` naming the file and the line the record starts on, and only
then write (engine.catalog.importers.writer). So a bad row never reaches the database, and writing is a plain
upsert by natural key (sku, category path) that bumps `updated_at` only when the stored content actually
changes: a second run over the same files reports everything unchanged.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

Progress = Callable[[int, int], None]
LINK_KINDS = ("upsell", "related", "crosssell")


@dataclass
class RowError:
    """A rejected record: the file, the physical line its record starts on, and why."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class ImportReport:
    """What one import did. created/updated/unchanged count products; links and categories have their own."""

    source: str  # importer name: magento | generic
    files: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    categories_created: int = 0
    brands_created: int = 0
    links_created: int = 0
    links_removed: int = 0
    stats: dict[str, float] = field(default_factory=dict)  # counts in the catalog after the import
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def ok(self) -> bool:
        return not self.rejected

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def summary(self) -> str:
        parts = [f"{self.source}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged",
                 f"{len(self.rejected)} rejected", f"{len(self.warnings)} warnings"]
        if self.links_created or self.links_removed:
            parts.append(f"links +{self.links_created}/-{self.links_removed}")
        return ", ".join(parts) + f" in {self.seconds:.2f}s"


class Ticker:
    """Calls `progress(done, total)` about a hundred times per run, so a console bar stays cheap."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done, self._last = progress, total, 0, -1
        self._step = max(1, total // 100)
        self._emit()

    def _emit(self) -> None:
        if self.progress is not None and self.done != self._last:
            self._last = self.done
            self.progress(self.done, self.total)

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        if self.done == self.total or self.done - max(self._last, 0) >= self._step:
            self._emit()

    def at(self, done: int) -> None:
        """Moves on to `done` (never back): for a pass that knows where it is rather than how far it moved."""
        if done > self.done:
            self.advance(done - self.done)

    def finish(self) -> None:
        self.done = self.total
        self._emit()


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.t0, 3)
