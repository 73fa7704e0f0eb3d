"""What changed between two recommendation configs: the draft against the live version on every
merchandising page, each published version against the one it replaced, any two versions on request.
The labels (version, created_at) are left out: they say when a document was published, not what it does."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from engine.recommend.config import RecoConfig, json_path

_LABELS = ("version", "created_at")


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
    out = {k: v for k, v in doc.items() if k not in _LABELS}
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


def as_records(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """Changes as plain data (what a published version stores and --json prints)."""
    return [{"path": c.path, "kind": c.kind, "old": c.old, "new": c.new} for c in changes]
