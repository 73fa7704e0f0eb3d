"""`python -m engine evaluate`: offline ranking metrics on the catalog's curated links and the built-in judged
sets (split into tune / test halves; the test half by default), or on a judged query file."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.common import Command, Progress, count_arg, load, runtime, text_arg

_TASKS = ("view", "wild", "upsell", "leaf", "look", "attribute", "nonsense")  # engine.evaluation.TASKS


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--k", type=count_arg, nargs="+", default=[10], metavar="K",
                   help="cut-offs of the @k metrics, several at once (default 10)")
    p.add_argument("--queries", help="judged query file (JSONL) instead of the built-in tasks")
    p.add_argument("--strategy", type=text_arg, help="only this reranking strategy (default: relevance and the "
                                                     "config's default)")
    p.add_argument("--max-queries", type=count_arg, help="sample this many queries per task and split (quicker)")
    p.add_argument("--split", choices=["test", "tune", "all"], default="test",
                   help="which half of the built-in sets to score: test (held out, reported), tune, or all")
    p.add_argument("--task", choices=_TASKS, action="append", help="run only this built-in task (repeatable)")
    p.add_argument("--details", action="store_true", help="print every query's ranking")


def evaluate_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    evaluation = load("engine.evaluation")
    if args.queries:
        rep = evaluation.evaluate_queries(rt, Path(args.queries), k=args.k, strategy=args.strategy,
                                          details=args.details)
    else:
        splits = ("tune", "test") if args.split == "all" else (args.split,)
        bar = Progress("evaluate", args.json)
        try:
            rep = evaluation.Evaluator(rt, k=args.k, splits=splits, details=args.details).run(
                progress=bar, max_queries=args.max_queries, tasks=tuple(args.task or evaluation.TASKS),
                strategies=(args.strategy,) if args.strategy else None)
        finally:
            bar.close()
    if args.json:
        return rep.to_json(details=args.details)
    enc = rep.encoders
    print(f"encoders: text {enc['text']}, image {enc['image'] or '(none)'}, text weight {enc['text_weight']}")
    for note in rep.notes:
        print(f"note: {note}")
    print(rep.table())
    if args.details:
        print()
        print(rep.details_text())
    print(f"({rep.seconds:.1f}s)")
    return None


COMMANDS = (
    Command("evaluate", "offline metrics with baselines: curated links and built-in judged sets (test split), "
            "or a judged query file", evaluate_command, _evaluate_args),
)
