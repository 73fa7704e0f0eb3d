"""The config a service ranks with, reloaded when its file changes.

The file is checked at most once a second; a valid new version replaces the old one between requests, and
an invalid one is refused with one logged error (not one per request) while the old version keeps serving.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from engine.errors import ConfigError
from engine.recommend.config import RecoConfig, fingerprint

log = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 1.0  # the config file is stat-ed at most this often


@dataclass
class Loaded:
    config: RecoConfig
    fingerprint: str
    signature: tuple | None  # (mtime_ns, size, inode) of the file it came from


class ConfigWatcher:
    """The config in use, replaced when its file changes and the new document is valid."""

    def __init__(self, path: str | None, check_every: float = RELOAD_CHECK_SECONDS):
        self.path = Path(path) if path else None
        self.check_every = check_every
        self._lock = threading.Lock()
        self._last_check = time.monotonic()
        self.error: str | None = None  # why the file on disk is not the config in use
        self._refused: tuple | None = None
        if self.path is None:
            config = RecoConfig.default()
            self.current = Loaded(config, fingerprint(config), None)
        else:
            sig = self._signature()
            config = RecoConfig.load(self.path)  # an invalid config at start-up is fatal: ConfigError
            self.current = Loaded(config, fingerprint(config), sig)

    def _signature(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def due(self) -> bool:
        return self.path is not None and time.monotonic() - self._last_check >= self.check_every

    def check(self) -> bool:
        """Reload when due and changed; True when a new config was taken."""
        if not self.due():
            return False
        with self._lock:
            if time.monotonic() - self._last_check < self.check_every:
                return False
            self._last_check = time.monotonic()
            sig = self._signature()
            if sig == self.current.signature or sig == self._refused:
                return False
            if sig is None:
                self._refused = None
                self.error = f"config file {self.path} is gone; still serving version {self.current.config.version}"
                log.error(self.error)
                self.current = replace(self.current, signature=None)
                return False
            try:
                config = RecoConfig.load(self.path)
            except ConfigError as e:
                self._refused = sig
                self.error = f"refused the new config in {self.path}; still serving version " \
                             f"{self.current.config.version}: {e}"
                log.error(self.error)
                return False
            old = self.current.config.version
            self.current = Loaded(config, fingerprint(config), sig)
            self.error, self._refused = None, None
            log.info("config reloaded from %s: version %s (was %s)", self.path, config.version, old)
            return True
