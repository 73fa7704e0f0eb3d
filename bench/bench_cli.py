"""CLI start time: each command run as a user runs it (a fresh `python -m engine` subprocess), median of --runs
runs, wall seconds beside the target, and the CPU seconds the process used (user + system: steadier than the
wall clock on a machine other work is loading). Needs a data folder with the demo catalog indexed:

    VITRINA_DATA_DIR=/tmp/clid VITRINA_IMAGE_ENCODER=descriptor python -m engine demo
    VITRINA_DATA_DIR=/tmp/clid VITRINA_IMAGE_ENCODER=descriptor python bench/bench_cli.py --runs 3

Targets (issue 13): ≤ 1.5 s for stats, export-config, check and similar; ≤ 3 s for search-text and
search-image. Each command first runs once untimed: it warms the page cache and writes the bytecode cache an
installed package would have (PYTHONDONTWRITEBYTECODE is dropped for the children; --no-bytecode keeps it).
The load average before and after is printed: on 2 shared cores a loaded machine moves the wall times more
than any change measured here, so compare within one run: --baseline DIR runs every command alternately in an
earlier tree of the code (e.g. `git archive HEAD | tar -x -C DIR`) and here, against the same data folder, and
prints both. --save FILE.json / --against FILE.json keep and show the medians of another run."""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
LUMA_PHOTO = ROOT.parent / "shared/datasets/magento-luma/media/catalog/product/m/h/mh01-black_main.jpg"
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "stats": ["stats", "--json"],
    "config status": ["config", "status", "--json"],
    "export-config": ["export-config", "--json"],
    "check": ["check", "--json"],
    "similar": ["similar", "MH01-Black", "--json"],
    "search-text": ["search-text", "hoodie", "--json"],
    "search-image": ["search-image", "{photo}", "--json"],
}
TARGETS = {"stats": 1.5, "export-config": 1.5, "check": 1.5, "similar": 1.5, "search-text": 3.0,
           "search-image": 3.0}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _once(argv: list[str], root: Path, env: dict[str, str]) -> tuple[float, float, int]:
    cpu, start = _children_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", *argv], cwd=root, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start, _children_cpu() - cpu, done.returncode


def time_command(argv: list[str], runs: int, env: dict[str, str],
                 roots: tuple[Path, ...] = (ROOT,)) -> list[tuple[float, float, int]]:
    """Per tree of code: median wall seconds and median CPU seconds of `runs` timed runs after one untimed,
    and the last exit code. The trees take turns, so a change of load hits them alike."""
    for root in roots:
        _once(argv, root, env)
    walls: dict[Path, list[float]] = {r: [] for r in roots}
    cpus: dict[Path, list[float]] = {r: [] for r in roots}
    codes = dict.fromkeys(roots, 0)
    for _ in range(runs):
        for root in roots:
            wall, cpu, codes[root] = _once(argv, root, env)
            walls[root].append(wall)
            cpus[root].append(cpu)
    return [(statistics.median(walls[r]), statistics.median(cpus[r]), codes[r]) for r in roots]


def _photo(given: str | None, folder: Path) -> Path:
    """The photo search-image looks for: the one given, a demo catalog photo, else a drawn one of that size."""
    if given:
        return Path(given)
    if LUMA_PHOTO.is_file():
        return LUMA_PHOTO
    path = folder / "photo.jpg"
    im = Image.new("RGB", (1000, 1243), (236, 236, 236))
    ImageDraw.Draw(im).rectangle((250, 200, 750, 1050), fill=(40, 40, 48))
    im.save(path, quality=90)
    return path


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", "--repeat", type=int, default=3, help="timed runs per command (median)")
    ap.add_argument("--only", action="append", help="a command name of the table (repeatable)")
    ap.add_argument("--photo", help="the photo for search-image (default: a demo catalog photo)")
    ap.add_argument("--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE for the children")
    ap.add_argument("--baseline", help="an earlier tree of the code, run alternately with this one")
    ap.add_argument("--save", help="write the medians to this JSON file")
    ap.add_argument("--against", help="a JSON file of an earlier run, printed as the 'before' column")
    args = ap.parse_args()
    before = json.loads(Path(args.against).read_text()) if args.against else {}
    env = os.environ.copy()
    if not args.no_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        photo = _photo(args.photo, Path(tmp))
        print(f"load average before: {_load()}   ({os.cpu_count()} CPUs, {args.runs} timed runs per command)")
        roots = (ROOT,) if not args.baseline else (Path(args.baseline).resolve(), ROOT)
        base = "  baseline wall / cpu s  exit" if args.baseline else ""
        print(f"{'command':<16} {'before s':>9} {'wall s':>7} {'target':>7} {'':>4} {'cpu s':>6}  exit{base}")
        for name, argv in COMMANDS.items():
            if args.only and name not in args.only:
                continue
            timed = time_command([a.replace("{photo}", str(photo)) for a in argv], args.runs, env, roots)
            wall, cpu, code = timed[-1]
            results[name] = round(wall, 3)
            prior = f"{before[name]:.2f}" if name in before else "-"
            target = f"{TARGETS[name]:.1f}" if name in TARGETS else "-"
            verdict = "" if name not in TARGETS else ("ok" if wall <= TARGETS[name] else "over")
            then = f"  {timed[0][0]:>13.2f} / {timed[0][1]:<5.2f} {timed[0][2]:>4}" if args.baseline else ""
            print(f"{name:<16} {prior:>9} {wall:>7.2f} {target:>7} {verdict:>4} {cpu:>6.2f}  {code:>4}{then}",
                  flush=True)
        print(f"load average after:  {_load()}")
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
