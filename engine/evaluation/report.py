"""What an evaluation reports: rows of one figure each, named so that runs of different versions can be compared
row by row (task, metric, method, own style, split, language), and the tables the CLI prints from them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# The order tasks are printed in; a task not listed comes last.
TASK_ORDER = ("view", "wild", "upsell", "leaf", "look", "attribute", "nonsense", "judged")


def mean(xs: list[float]) -> float:
    """The mean of a task's per-query figures. Callers never make a row of no queries (a NaN row says nothing)."""
    if not xs:
        raise ValueError("a row needs at least one query")
    return sum(xs) / len(xs)


@dataclass
class Row:
    task: str  # view / wild / upsell / leaf / look / attribute / nonsense / judged
    metric: str  # e.g. Recall@1, NDCG@10, NoMatchRate
    method: str  # vector kind (+ strategy), or a baseline name
    own_style: str  # "included" | "excluded": similar items may or may not show the query's own style
    value: float
    queries: int
    split: str = "test"  # "tune" | "test": which half of the judged set (split by style or by query attributes)
    language: str | None = None  # attribute rows: the queries' language (en / ru / tr)
    encoder: str = ""  # the encoder whose vectors ranked ("" for a baseline, which uses none)


@dataclass
class EvaluationReport:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    encoders: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was left out and why (e.g. queries nothing matches)
    details: list[dict] = field(default_factory=list)  # per-query rankings, kept when asked for

    def value(self, task: str, metric: str, method: str, own_style: str = "included", split: str = "test",
              language: str | None = None) -> float:
        for r in self.rows:
            if (r.task, r.metric, r.method, r.own_style, r.split, r.language) == (
                    task, metric, method, own_style, split, language):
                return r.value
        raise KeyError((task, metric, method, own_style, split, language))

    def to_json(self, details: bool = False) -> dict:
        out = {"seconds": round(self.seconds, 2), "encoders": self.encoders, "notes": self.notes,
               "rows": [asdict(r) for r in self.rows]}
        if details:
            out["details"] = self.details
        return out

    def table(self) -> str:
        """One block per task: a line per (metric, own style, language, split), a column per method."""
        tasks = sorted({r.task for r in self.rows},
                       key=lambda t: (TASK_ORDER.index(t) if t in TASK_ORDER else len(TASK_ORDER), t))
        blocks = []
        for task in tasks:
            rows = [r for r in self.rows if r.task == task]
            keys = list(dict.fromkeys((r.metric, r.own_style, r.language or "", r.split) for r in rows))
            methods = list(dict.fromkeys(r.method for r in rows))
            vals = {(r.metric, r.own_style, r.language or "", r.split, r.method): r for r in rows}
            counts = {k: max(r.queries for r in rows if (r.metric, r.own_style, r.language or "", r.split) == k)
                      for k in keys}
            head = ["metric", "own style", "lang", "split", "queries"] + methods
            lines = [head] + [[*k, str(counts[k])] + [f"{vals[k + (m,)].value:.3f}" if k + (m,) in vals else "—"
                                                      for m in methods] for k in keys]
            widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
            out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines]
            out.insert(1, "  ".join("-" * w for w in widths))
            blocks.append(f"[{task}]\n" + "\n".join(out))
        return "\n\n".join(blocks)

    def details_text(self) -> str:
        """Per-query rankings, one block a query: the query, what was relevant, the ranking with marks."""
        out = []
        for d in self.details:
            head = f"[{d['task']}/{d['split']}{'/' + d['language'] if d.get('language') else ''}] {d['query']}"
            figures = "  ".join(f"{k}={v:.3f}" for k, v in d.get("metrics", {}).items())
            out.append(f"{head}  ({d['method']}{'; ' + figures if figures else ''})")
            if d.get("relevant"):
                out.append("    relevant: " + ", ".join(d["relevant"][:12])
                           + (f" (+{len(d['relevant']) - 12})" if len(d["relevant"]) > 12 else ""))
            for i, item in enumerate(d["ranked"], start=1):
                mark = item.get("grade")
                mark = "✓" if item.get("relevant") else ("·" if mark in (None, 0) else f"{mark}")
                out.append(f"    {i:>3}. {mark} {item['sku']:<20} {item.get('title', '')[:50]}")
            if not d["ranked"]:
                out.append("    (no results)")
        return "\n".join(out)
