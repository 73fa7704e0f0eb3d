"""CLI start time: each command run as a user runs it (a fresh `python -m engine` subprocess), median of
--repeat runs, in seconds. Needs a data folder with the demo catalog indexed:

    VITRINA_DATA_DIR=/tmp/clid VITRINA_IMAGE_ENCODER=descriptor python -m engine demo
    VITRINA_DATA_DIR=/tmp/clid VITRINA_IMAGE_ENCODER=descriptor python bench/bench_cli.py

Targets (issue 13): ≤ 1.5 s for stats, export-config, check and similar; ≤ 3 s for search-text.
Pass --label to tag a run and --save FILE.json / --against FILE.json to print a before/after table."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "stats": ["stats", "--json"],
    "config status": ["config", "status", "--json"],
    "export-config": ["export-config", "--json"],
    "check": ["check", "--json"],
    "similar": ["similar", "MH01-Black", "--json"],
    "search-text": ["search-text", "hoodie", "--json"],
}
TARGETS = {"stats": 1.5, "export-config": 1.5, "check": 1.5, "similar": 1.5, "search-text": 3.0}


def time_command(argv: list[str], repeat: int) -> tuple[float, int]:
    """Median wall seconds of `repeat` runs and the last exit code."""
    times, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "engine", *argv], cwd=ROOT, env=os.environ.copy(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
        code = done.returncode
    return statistics.median(times), code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", action="append", help="a command name of the table (repeatable)")
    ap.add_argument("--save", help="write the medians to this JSON file")
    ap.add_argument("--against", help="a JSON file of an earlier run, printed as the 'before' column")
    args = ap.parse_args()
    before = json.loads(Path(args.against).read_text()) if args.against else {}
    results: dict[str, float] = {}
    print(f"{'command':<16} {'before s':>9} {'now s':>8} {'target':>7}  exit")
    for name, argv in COMMANDS.items():
        if args.only and name not in args.only:
            continue
        seconds, code = time_command(argv, args.repeat)
        results[name] = round(seconds, 3)
        prior = f"{before[name]:.2f}" if name in before else "-"
        target = f"{TARGETS[name]:.1f}" if name in TARGETS else "-"
        print(f"{name:<16} {prior:>9} {seconds:>8.2f} {target:>7}  {code}", flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
