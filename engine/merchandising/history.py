"""What changed between two recommendation configs, and the exported versions kept in a folder.

The Tuning and Complete-the-look pages show what the working config changes against the saved one, and
import-config lists what an imported file changes; every export is kept as a version to go back to. Both
sit above the recommender (merchandising work, not serving), so they live here, reading configs through
engine/recommend/config.py."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from engine.errors import ConfigError, NotFound
from engine.recommend.config import RecoConfig, fingerprint, json_path, load, save


# ---------------------------------------------------------------- diff

@dataclass(frozen=True)
class Change:
    path: str  # "strategies.balanced.weights.price", "rules['pin-1'].slot", "complementary['Men/Tops']"
    old: Any  # None when added
    new: Any  # None when removed

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"


def _diff_path(parts: Sequence[str]) -> str:
    return json_path(parts)[2:] if len(parts) else ""


def _keyed(doc: dict[str, Any]) -> dict[str, Any]:
    """Lists whose items have identities become mappings, so a reorder or an insert is not a change of all."""
    out = dict(doc)
    if isinstance(out.get("rules"), list):
        out["rules"] = {r["id"]: {k: v for k, v in r.items() if k != "id"} for r in out["rules"]}
    if isinstance(out.get("complementary"), dict):
        out["complementary"] = {cat: {t["category"]: {k: v for k, v in t.items() if k != "category"}
                                      for t in targets} for cat, targets in out["complementary"].items()}
    return out


def _walk(a: Any, b: Any, path: list[str], out: list[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in b:
                out.append(Change(_diff_path(path + [k]), a[k], None))
            elif k not in a:
                out.append(Change(_diff_path(path + [k]), None, b[k]))
            else:
                _walk(a[k], b[k], path + [k], out)
    elif a != b:
        out.append(Change(_diff_path(path), a, b))


def diff(a: RecoConfig, b: RecoConfig) -> list[Change]:
    """What changed from a to b, leaf by leaf, in document order; a whole strategy, rule or map entry added
    or removed is one change. Rules are matched by id and look targets by category, so reordering is not
    reported."""
    out: list[Change] = []
    _walk(_keyed(a.to_dict()), _keyed(b.to_dict()), [], out)
    return out


# ---------------------------------------------------------------- history

@dataclass(frozen=True)
class ConfigVersion:
    name: str  # file name
    path: Path
    version: str | None
    created_at: str | None
    fingerprint: str | None
    error: str | None = None  # set when the file no longer loads (edited by hand)


class ConfigHistory:
    """Exported versions in a folder, one YAML file each, named by UTC time so names sort by age."""

    PATTERN = re.compile(r"^config-(\d{8}T\d{12}Z)(?:-(\d+))?\.yaml$")

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def save(self, config: RecoConfig, now: datetime | None = None) -> ConfigVersion:
        """Stamp a new version label and time, validate, write. Invalid → ConfigError, nothing written."""
        now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        label = now.strftime("%Y%m%dT%H%M%S%fZ")
        stamped = replace(config, version=label, created_at=now.isoformat())
        stamped.validate()  # before the folder is made: a refused config leaves no trace
        self.folder.mkdir(parents=True, exist_ok=True)
        name, i = f"config-{label}.yaml", 0
        while (self.folder / name).exists():
            i += 1
            name = f"config-{label}-{i}.yaml"
        path = save(stamped, self.folder / name)
        return ConfigVersion(name, path, stamped.version, stamped.created_at, fingerprint(stamped))

    def _names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        found = [(m.group(1), int(m.group(2) or 0), p.name)
                 for p in self.folder.iterdir() if (m := self.PATTERN.match(p.name))]
        return [name for *_, name in sorted(found, reverse=True)]

    def list(self) -> list[ConfigVersion]:
        """Newest first. A file that no longer validates is listed with its error instead of hidden."""
        out = []
        for name in self._names():
            path = self.folder / name
            try:
                cfg = load(path)
                out.append(ConfigVersion(name, path, cfg.version, cfg.created_at, fingerprint(cfg)))
            except ConfigError as e:
                out.append(ConfigVersion(name, path, None, None, None, error=str(e)))
        return out

    def load(self, name_or_version: str) -> RecoConfig:
        """By file name or by version label."""
        for name in self._names():
            if name == name_or_version or name == f"config-{name_or_version}.yaml":
                return load(self.folder / name)
        for v in self.list():
            if v.version == name_or_version and v.error is None:
                return load(v.path)
        raise NotFound(f"no saved config {name_or_version!r} in {self.folder}")

    def latest(self) -> RecoConfig | None:
        names = self._names()
        return load(self.folder / names[0]) if names else None
