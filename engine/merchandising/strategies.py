"""Custom strategies: the merchandiser's own weightings, forked from a built-in and then edited, renamed,
deleted or made the default — each call returning a validated copy of the config (the input is never changed).

The built-ins (relevance, balanced, trending, upsell: BUILTIN_STRATEGIES) are read-only. They are the engine's
reference rankings, and a published config stores their full weights: quietly retuning `balanced` would change
what every caller asking for `balanced` gets while the name still promises the engine's tuning. A merchandiser
who moves a slider on a built-in therefore saves under a new name (`fork_strategy`).

Renaming or deleting is refused while production depends on the name:
* the live config's default strategy serves every request that names none;
* a strategy a running experiment serves (engine.insights.experiments.running_strategies) would leave that
  variant's shoppers on something else under an unchanged variant, spoiling the comparison.
Deleting the draft's own default is refused too (choose another default first); renaming it carries the default
over to the new name. Events logged under an old name stay in the log and show as retired in the analytics.

Diversity (mmr_lambda, collapse_k) is one setting of the whole config, not of a strategy: the edits below leave
it as it is unless a value is given (None turns MMR or collapsing off, as in edits.with_strategy).
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Collection, Mapping

from engine.errors import ConfigError, NotFound
from engine.merchandising.edits import with_default_strategy, with_strategy
from engine.recommend.config import RecoConfig
from engine.recommend.config_document import STRATEGY_NAME
from engine.recommend.rerank import BUILTIN_STRATEGIES, Strategy

KEEP: Any = object()  # "leave the config's diversity setting as it is"


def is_builtin(name: str) -> bool:
    """Whether `name` is one of the engine's read-only strategies."""
    return isinstance(name, str) and name in BUILTIN_STRATEGIES


def _refuse(message: str, *problems: str) -> ConfigError:
    return ConfigError(message, list(problems))


def _read_only(name: str, doing: str) -> ConfigError:
    return _refuse(f"built-in strategy {name!r} is read-only: {doing}")


def _existing(config: RecoConfig, name: str) -> Strategy:
    if not isinstance(name, str) or name not in config.strategies:
        raise NotFound(f"unknown strategy {name!r} (known: {', '.join(config.strategies)})")
    return config.strategies[name]


def _new_name(config: RecoConfig, name: Any) -> str:
    """A valid name no strategy of `config` uses (in any letter case: "Pop" beside "pop" invites mistakes)."""
    if not isinstance(name, str):
        raise _refuse(f"a strategy name must be text, got {name!r}")
    name = name.strip()
    if not re.match(STRATEGY_NAME, name):
        raise _refuse(f"{name!r} is not a valid strategy name: use 1 to 64 letters, digits, '_', '.' or '-'")
    taken = next((n for n in [*config.strategies, *BUILTIN_STRATEGIES] if n.lower() == name.lower()), None)
    if taken is not None:
        what = "a built-in strategy" if is_builtin(taken) else "a strategy"
        raise _refuse(f"{what} named {taken!r} already exists: choose another name")
    return name


def _diversity(config: RecoConfig, mmr_lambda: Any, collapse_k: Any) -> tuple[Any, Any]:
    return (config.diversity.mmr_lambda if mmr_lambda is KEEP else mmr_lambda,
            config.diversity.collapse_k if collapse_k is KEEP else collapse_k)


def update_strategy(config: RecoConfig, name: str, weights: Mapping[str, float], mmr_lambda: Any = KEEP,
                    collapse_k: Any = KEEP, description: str | None = None) -> RecoConfig:
    """A copy where custom strategy `name` has `weights` (zero weights dropped), and the description and
    diversity given. A built-in is refused: its weights go under a new name with fork_strategy."""
    if is_builtin(name):
        raise _read_only(name, "save your weights under a new name")
    _existing(config, name)
    return with_strategy(config, name, weights, *_diversity(config, mmr_lambda, collapse_k),
                         description=description)


def fork_strategy(config: RecoConfig, base: str, new_name: str, weights: Mapping[str, float] | None = None,
                  mmr_lambda: Any = KEEP, collapse_k: Any = KEEP, description: str | None = None,
                  make_default: bool = False) -> RecoConfig:
    """A copy with a new custom strategy `new_name` made from `base` (its weights when `weights` is None);
    with make_default it becomes the default strategy. The name must be valid and unused."""
    source = _existing(config, base)
    name = _new_name(config, new_name)
    text = description if description is not None else f"Custom strategy, forked from {base}."
    return with_strategy(config, name, dict(source.weights) if weights is None else weights,
                         *_diversity(config, mmr_lambda, collapse_k), description=text, make_default=make_default)


def _in_use(name: str, live: RecoConfig, running: Collection[str], doing: str) -> None:
    if name == live.default_strategy:
        raise _refuse(f"cannot {doing} strategy {name!r}: it is the live default strategy, served to every "
                      "request that names none. Make another strategy the default and publish first")
    if name in running:
        raise _refuse(f"cannot {doing} strategy {name!r}: a running experiment serves it to its shoppers. "
                      "Stop the experiment first")


def rename_strategy(config: RecoConfig, old: str, new: str, *, live: RecoConfig,
                    running: Collection[str]) -> RecoConfig:
    """A copy where custom strategy `old` is called `new` (same place, weights and description); the draft's
    default follows it. Refused for a built-in, for the live default and for a strategy in a running experiment
    (`running`: engine.insights.experiments.running_strategies)."""
    if is_builtin(old):
        raise _read_only(old, "its name cannot change; fork it under a new name instead")
    _existing(config, old)
    _in_use(old, live, running, "rename")
    name = _new_name(config, new)
    strategies = {(name if n == old else n): (Strategy(name, dict(s.weights), s.description) if n == old else s)
                  for n, s in config.strategies.items()}
    default = name if config.default_strategy == old else config.default_strategy
    return replace(config, strategies=strategies, default_strategy=default).validate()


def delete_strategy(config: RecoConfig, name: str, *, live: RecoConfig, running: Collection[str]) -> RecoConfig:
    """A copy without custom strategy `name`. Refused for a built-in, for the draft's or the live default and
    for a strategy in a running experiment."""
    if is_builtin(name):
        raise _read_only(name, "it cannot be deleted")
    _existing(config, name)
    if name == config.default_strategy:
        raise _refuse(f"cannot delete strategy {name!r}: it is the draft's default strategy. "
                      "Make another strategy the default first")
    _in_use(name, live, running, "delete")
    strategies = {n: s for n, s in config.strategies.items() if n != name}
    return replace(config, strategies=strategies).validate()


def set_default_strategy(config: RecoConfig, name: str) -> RecoConfig:
    """A copy whose default strategy is `name` (NotFound lists the known ones)."""
    _existing(config, name)
    return with_default_strategy(config, name)


__all__ = ["KEEP", "delete_strategy", "fork_strategy", "is_builtin", "rename_strategy", "set_default_strategy",
           "update_strategy"]
