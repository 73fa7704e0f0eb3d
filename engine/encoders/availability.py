"""What the last attempt to load CLIP found, remembered in the data folder so the next process need not ask again.

Finding out that CLIP cannot load costs seconds: torch and open_clip import before the weights can even be
looked for, and on a machine without them (nothing ships CLIP weights) every command then ends the same way,
with the same warning. A failed attempt is written to `<data dir>/clip-unavailable.json`: what was tried, on
which device, the reason, when, and the fingerprint of what it depended on — the weights' location (the
checkpoint file, or the cache entry a download fills), where torch, torchvision and open_clip are installed,
and the Hugging Face environment variables. While that fingerprint is unchanged, later processes take the
remembered reason without importing torch; when the weights appear (the file or cache entry now exists, or
its size or mtime changed), a package is installed, or `python -m engine --retry-models` asks, the next load
tries again and rewrites the entry. A successful load removes it.

The file is advisory: unreadable or foreign content means "not remembered", and a folder that cannot be written
(read-only data) only costs the next process the attempt.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MARKER = "clip-unavailable.json"
VERSION = 1
PACKAGES = ("torch", "torchvision", "open_clip")
ENVIRONMENT = ("HF_HUB_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME")


def _stat(path: str) -> list[int] | None:
    """[size, mtime in ns] of a file or folder, None while it does not exist."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_size, st.st_mtime_ns]


def _installed(package: str) -> list[Any] | None:
    """Where a package is installed and that file's [size, mtime], found without importing it (importing torch
    is the cost being saved); None when it is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return [spec.origin, _stat(spec.origin)]


def fingerprint(weights: Sequence[str]) -> dict[str, Any]:
    """What a CLIP attempt depended on, in a form JSON keeps unchanged (lists, strings, ints, None)."""
    return {"weights": {str(p): _stat(str(p)) for p in weights},
            "packages": {name: _installed(name) for name in PACKAGES},
            "environment": {name: os.environ.get(name) for name in ENVIRONMENT}}


class Marker:
    """The failed CLIP attempts remembered in one data folder, one entry per "clip:<arch>:<weights> on <device>"."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / MARKER

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every remembered failure, held or not (what `python -m engine` and the tests read)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.info("ignoring the unreadable CLIP availability marker %s: %s", self.path, e)
            return {}
        entries = doc.get("entries") if isinstance(doc, dict) and doc.get("version") == VERSION else None
        if not isinstance(entries, dict):
            return {}
        return {k: v for k, v in entries.items() if isinstance(v, dict)}

    def holding(self, key: str) -> dict[str, Any] | None:
        """The remembered failure of `key` while nothing it depended on has changed; None means: try again."""
        entry = self.entries().get(key)
        if entry is None or not isinstance(entry.get("reason"), str) or not isinstance(entry.get("fingerprint"), dict):
            return None
        weights = entry["fingerprint"].get("weights")
        if not isinstance(weights, dict) or entry["fingerprint"] != fingerprint(list(weights)):
            return None
        return entry

    def remember(self, key: str, tried: str, reason: str, weights: Sequence[str]) -> dict[str, Any] | None:
        """Record a failed attempt (counting the attempts made on this data folder); the entry, or None when it
        could not be written."""
        entries = self.entries()
        attempts = entries.get(key, {}).get("attempts")
        entry = {"tried": tried, "reason": reason, "checked_at": datetime.now(UTC).isoformat(),
                 "attempts": (attempts if isinstance(attempts, int) and attempts > 0 else 0) + 1,
                 "fingerprint": fingerprint(weights)}
        entries[key] = entry
        return entry if self._write(entries) else None

    def forget(self, key: str) -> None:
        """CLIP loaded: nothing to remember for `key` any more."""
        entries = self.entries()
        if key in entries:
            del entries[key]
            self._write(entries)

    def _write(self, entries: dict[str, dict[str, Any]]) -> bool:
        """Replace the file atomically (a reader never sees half of it), or remove it when nothing is left;
        False when the folder cannot be written."""
        try:
            if not entries:
                self.path.unlink(missing_ok=True)
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{MARKER}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": VERSION, "entries": entries}, indent=2, ensure_ascii=False),
                           encoding="utf-8")
            os.replace(tmp, self.path)
            return True
        except OSError as e:
            log.info("could not record the CLIP availability in %s: %s", self.path, e)
            return False
