"""Which rows of a file are the first of their sku, told in 24 bytes a row.

An import rejects a sku repeated in the same file at its second occurrence. A dict from sku to line costs
some 130 bytes a row in Python objects, as much as a third of a typical feed row: a 100,000-product feed would
hold 13 MB just to answer "seen before?". So the first pass only appends a 16-byte digest of each good row's
sku (blake2b: two different skus share one with a probability far below that of a disk error) and its line
to flat arrays; `settle` sorts them once with numpy, and the second pass, which meets the rows in line order
again, asks `verdict` for each line and walks two sorted arrays with a cursor.
"""
from __future__ import annotations

from array import array
from hashlib import blake2b

import numpy as np

KEEP = -1  # the verdict for the first row of its sku


class FirstOccurrences:
    def __init__(self) -> None:
        self._digests = bytearray()
        self._lines = array("Q")
        self._keep = np.empty(0, dtype=np.uint64)
        self._repeats = np.empty(0, dtype=np.uint64)
        self._first = np.empty(0, dtype=np.uint64)
        self._k = self._r = 0

    def add(self, sku: str, line: int) -> None:
        """A row that passed validation (lines increase from call to call)."""
        self._digests += blake2b(sku.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        self._lines.append(line)

    def settle(self) -> None:
        """Groups the rows by digest: each group's lowest line is kept, the others are repeats of it."""
        if not self._lines:
            return
        pairs = np.frombuffer(self._digests, dtype="<u8").reshape(-1, 2)
        lines = np.frombuffer(self._lines, dtype=np.uint64)
        order = np.lexsort((lines, pairs[:, 1], pairs[:, 0]))  # by digest, then line
        hi, lo, lines = pairs[order, 0], pairs[order, 1], lines[order]
        del order, pairs
        self._digests, self._lines = bytearray(), array("Q")
        starts = np.ones(len(lines), dtype=bool)
        starts[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
        del hi, lo
        group = np.cumsum(starts) - 1
        firsts = lines[starts]
        repeats, first = lines[~starts], firsts[group[~starts]]
        del group
        self._keep = np.sort(firsts)
        by_line = np.argsort(repeats, kind="stable")
        self._repeats, self._first = repeats[by_line], first[by_line]

    def __len__(self) -> int:
        """Rows kept (after `settle`)."""
        return len(self._keep)

    def verdict(self, line: int) -> int | None:
        """KEEP for the first row of its sku, the line of that first row for a repeat, None for a line that
        was not added. Lines must be asked in increasing order (each cursor only moves forward)."""
        while self._k < len(self._keep) and self._keep[self._k] < line:
            self._k += 1
        if self._k < len(self._keep) and self._keep[self._k] == line:
            return KEEP
        while self._r < len(self._repeats) and self._repeats[self._r] < line:
            self._r += 1
        if self._r < len(self._repeats) and self._repeats[self._r] == line:
            return int(self._first[self._r])
        return None


__all__ = ["KEEP", "FirstOccurrences"]
