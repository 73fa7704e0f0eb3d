"""The checks of a config document that compare its parts with each other, which no schema expresses: the
default strategy exists, rule and boost ids are unique, two pins do not share a slot in one scope at the
same time, a rule does not repeat another, a window ends after it starts, a boost has exactly one
condition, a category is not listed twice. They run on the raw data, defensively (parts of the wrong shape
are the models' to report), so they are reported even when other parts of the document are invalid.
The models and the reading of a document: engine/recommend/config_document.py."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable

from engine.errors import ValidationError
from engine.recommend.boosts import CONDITIONS
from engine.recommend.looks import normalise_path
from engine.recommend.rerank import BUILTIN_STRATEGIES
from engine.recommend.rules import parse_time
from engine.settings import Settings

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int]) -> str:
    """$.strategies.balanced.weights / $.rules[2].slot / $.complementary['Men/Tops'][0]"""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _IDENT.match(p):
            out += f".{p}"
        else:
            out += "[" + repr(p) + "]"
    return out


def _window(item: dict[str, Any], where: list[str | int], out: list[str]) -> tuple[datetime | None, ...]:
    """A rule's or boost's (starts, ends) as instants, None where left out or unreadable (the models report
    those); an end not after the start is reported here, at `ends`."""
    edges = []
    for key in ("starts", "ends"):
        try:
            edges.append(parse_time(item[key]) if isinstance(item.get(key), str) else None)
        except ValidationError:
            edges.append(None)
    starts, ends = edges
    if starts is not None and ends is not None and ends <= starts:
        out.append(f"{json_path(where + ['ends'])}: ends {item['ends']} must be after starts {item['starts']}")
        return None, None
    return starts, ends


def _overlap(a: tuple[datetime | None, ...], b: tuple[datetime | None, ...]) -> bool:
    """Whether two windows [starts, ends) share an instant (a missing edge is open)."""
    return (a[0] is None or b[1] is None or a[0] < b[1]) and (b[0] is None or a[1] is None or b[0] < a[1])


def _rule_errors(rules: list[Any]) -> list[str]:
    out: list[str] = []
    max_slot = Settings().max_results
    ids: dict[str, int] = {}
    slots: dict[tuple[str, int], list[tuple[int, tuple]]] = {}
    same: dict[tuple, list[tuple[int, tuple]]] = {}
    for i, r in enumerate(rules):
        if not isinstance(r, dict):
            continue
        rid, action, slot, scope = r.get("id"), r.get("action"), r.get("slot"), r.get("scope", "global")
        window = _window(r, ["rules", i], out)
        if isinstance(rid, str):
            if rid in ids:
                out.append(f"{json_path(['rules', i, 'id'])}: duplicate rule id {rid!r} (also rules[{ids[rid]}])")
            else:
                ids[rid] = i
        if action == "pin" and isinstance(slot, int) and not isinstance(slot, bool):
            if slot > max_slot:
                out.append(f"{json_path(['rules', i, 'slot'])}: slot {slot} is beyond the longest list "
                           f"({max_slot}, VITRINA_MAX_RESULTS)")
            if isinstance(scope, str):
                taken = [j for j, w in slots.get((scope, slot), []) if _overlap(w, window)]
                if taken:
                    out.append(f"{json_path(['rules', i, 'slot'])}: slot {slot} in scope {scope} is already "
                               f"pinned by rules[{taken[0]}]")
                slots.setdefault((scope, slot), []).append((i, window))
        key = (action, r.get("product_id"), scope, r.get("match", "style"))
        if all(isinstance(k, (str, int)) for k in key):
            again = [j for j, w in same.get(key, []) if _overlap(w, window)]
            if again:
                out.append(f"{json_path(['rules', i])}: repeats rules[{again[0]}] ({action} product "
                           f"{r.get('product_id')} in scope {scope})")
            same.setdefault(key, []).append((i, window))
    return out


def _boost_errors(boosts: list[Any]) -> list[str]:
    out: list[str] = []
    ids: dict[str, int] = {}
    for i, b in enumerate(boosts):
        if not isinstance(b, dict):
            continue
        _window(b, ["boosts", i], out)
        bid = b.get("id")
        if isinstance(bid, str):
            if bid in ids:
                out.append(f"{json_path(['boosts', i, 'id'])}: duplicate boost id {bid!r} (also boosts[{ids[bid]}])")
            else:
                ids[bid] = i
        when = b.get("when")
        if isinstance(when, dict):
            given = [k for k in CONDITIONS if k in when]
            if len(given) != 1:
                out.append(f"{json_path(['boosts', i, 'when'])}: needs exactly one condition of "
                           f"{', '.join(CONDITIONS)}, got {len(given)}{': ' + ', '.join(given) if given else ''}")
    return out


def cross_errors(doc: dict[str, Any]) -> list[str]:
    """What compares parts with each other. Defensive: parts of the wrong shape are the models' to report."""
    out: list[str] = []
    strategies = doc.get("strategies")
    names = set(BUILTIN_STRATEGIES) | (set(strategies) if isinstance(strategies, dict) else set())
    default = doc.get("default_strategy")
    if isinstance(default, str) and default and default not in names:
        out.append(f"$.default_strategy: unknown strategy {default!r} (known: {', '.join(sorted(names))})")
    search = doc.get("search")
    if isinstance(search, dict):
        strategy = search.get("strategy")
        if isinstance(strategy, str) and strategy and strategy not in names:
            out.append(f"$.search.strategy: unknown strategy {strategy!r} (known: {', '.join(sorted(names))})")
        if search.get("dense_weight") == 0 and search.get("lexical_weight") == 0:
            out.append("$.search: dense_weight and lexical_weight are both 0: one list must count")

    rules = doc.get("rules")
    if isinstance(rules, list):
        out += _rule_errors(rules)
    boosts = doc.get("boosts")
    if isinstance(boosts, list):
        out += _boost_errors(boosts)

    comp = doc.get("complementary")
    if isinstance(comp, dict):
        keys: dict[str, str] = {}
        for cat, targets in comp.items():
            norm = normalise_path(cat).casefold()
            if norm in keys:
                out.append(f"{json_path(['complementary', cat])}: the same category as {keys[norm]!r}")
            else:
                keys[norm] = cat
            if not isinstance(targets, list):
                continue
            seen: dict[str, int] = {}
            for j, t in enumerate(targets):
                if not isinstance(t, dict) or not isinstance(t.get("category"), (str, int)):
                    continue
                tn = normalise_path(str(t["category"])).casefold()
                where = json_path(["complementary", cat, j, "category"])
                if tn == norm:
                    out.append(f"{where}: a category cannot complement itself")
                elif tn in seen:
                    out.append(f"{where}: {t['category']!r} is listed twice (also [{seen[tn]}])")
                else:
                    seen[tn] = j
    return out
