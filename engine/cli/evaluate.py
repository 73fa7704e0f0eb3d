"""`python -m engine evaluate`: offline ranking metrics, on the Luma ground truth or on a judged query file."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.common import Command, Progress, count_arg, load, runtime


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", type=count_arg, default=10)
    p.add_argument("--queries", help="judged query file (JSONL) instead of the Luma ground truth")
    p.add_argument("--strategy")
    p.add_argument("--max-queries", type=count_arg, help="sample this many queries per task (quicker)")


def evaluate_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    if args.queries:
        rep = load("engine.evaluation").evaluate_queries(rt, Path(args.queries), k=args.k, strategy=args.strategy)
    else:
        bar = Progress("evaluate", args.json)
        rep = load("engine.evaluation").Evaluator(rt, k=args.k).run(progress=bar, max_queries=args.max_queries)
        bar.close()
    if args.json:
        return rep.to_json()
    print(f"encoders: {rep.encoders}" if rep.encoders else "")
    print(rep.table())
    print(f"({rep.seconds:.1f}s)")
    return None


COMMANDS = (
    Command("evaluate", "offline metrics on the Luma ground truth, or on a judged query file", evaluate_command,
            _evaluate_args),
)
