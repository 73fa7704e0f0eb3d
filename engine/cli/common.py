"""What every command group of `python -m engine` shares: the `Command` record main.py builds the parser
from, the runtime and result filters made from the parsed arguments, the progress bar, and the printing of
result lists and JSON. The groups import from here and main.py imports the groups, so nothing imports back."""
from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tqdm import tqdm

from engine.text import MAX_ID, id_problem, is_blank
from engine.text import product_key as _product_key
from engine.text import text_problem
from engine.settings import Settings
from engine.types import Filters, Recommendation

if TYPE_CHECKING:  # loaded by the commands that open a data location, not by --help
    from engine.runtime import Runtime

Handler = Callable[[argparse.Namespace], Any]
ArgumentSetup = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """One `python -m engine <name>`. `handler` returns what --json prints (None when it printed the text
    itself); `arguments` adds the command's own arguments beside --json, and --config for the commands that rank."""

    name: str
    help: str
    handler: Handler
    arguments: ArgumentSetup | None = None
    ranks: bool = True  # takes --config: a config file to rank with instead of the live version


def load(module: str) -> ModuleType:
    """The module named, imported when a command first needs it: a group module imports only what declaring
    its commands takes, so `python -m engine stats` never loads the service, the simulator or the job queue
    (a name resolved at run time, not an import statement inside a function: tests/test_architecture.py)."""
    return importlib.import_module(module)


def jsonable(o: Any) -> Any:
    """Reports are dataclasses holding dates, paths and numpy scalars: turn them into what json.dumps takes."""
    if is_dataclass(o) and not isinstance(o, type):
        return {k: jsonable(v) for k, v in asdict(o).items()}
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set)):
        return [jsonable(v) for v in o]
    if isinstance(o, (datetime, date, Path)):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    return o


class Progress:
    """A tqdm bar on stderr (silent under --json, whose stdout a script parses) usable as the engine's
    (done, total) progress callback."""

    def __init__(self, desc: str, quiet: bool):
        self.desc, self.quiet, self.bar = desc, quiet, None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is not None and (total != self.bar.total or done < self.bar.n):
            self.bar.close()  # a new phase (e.g. import, then index) gets its own bar
            self.bar = None
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="item", file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def runtime(args: argparse.Namespace) -> Runtime:
    """The engine as the environment and the command's --config describe it; built per command, so a bad
    setting surfaces as the command's error rather than at import."""
    return load("engine.runtime").Runtime(Settings(), config_path=getattr(args, "config", None))


# ---------------------------------------------------------------- argument types
# argparse `type=` functions: a refused value exits 2 with one line naming the argument, before any work.
# Python reads command-line bytes that are not UTF-8 as lone surrogates, so that check covers them too.

def product_key(text: str) -> int | str:
    """A product named on the command line: ASCII digits are a product id (1..2^63-1), anything else a sku."""
    try:
        return _product_key(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{e}: {text!r}" if "got" not in str(e) else str(e)) from None


def _clean(text: str) -> str:
    problem = text_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}: {text!r}")
    return text


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def text_arg(text: str) -> str:
    """Free text (a shopper id, a colour, a strategy): valid UTF-8 without NUL, not blank."""
    if not _clean(text).strip():
        raise argparse.ArgumentTypeError("is empty")
    return text


def search_text(text: str) -> str:
    """A search query: clean text with something to search for besides whitespace, NUL and bidi marks."""
    if is_blank(_clean(text)):
        raise argparse.ArgumentTypeError("the search text is empty")
    return text


def id_arg(text: str) -> int:
    """A product or category id: a whole number within 1..2^63-1."""
    value = _whole(text)
    problem = id_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem.replace("a product id", "an id"))
    return value


def count_arg(text: str) -> int:
    """How many (results, items, days, ...): a whole number of at least 1 (the engine sets the upper bounds)."""
    value = _whole(text)
    if not 1 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_ID}, got {value}")
    return value


def number_arg(text: str) -> float:
    """A price: a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text!r}")
    return value


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """The result filters every listing command takes (read back by `filters`)."""
    p.add_argument("--category", type=id_arg, action="append", help="category id (repeatable; subtree matches)")
    p.add_argument("--price-min", type=number_arg)
    p.add_argument("--price-max", type=number_arg)
    p.add_argument("--colour", type=text_arg, action="append", help="colour name (repeatable)")
    p.add_argument("--brand", type=text_arg, action="append", help="brand (repeatable)")
    p.add_argument("--exclude", type=id_arg, action="append", help="product id to leave out (repeatable)")
    p.add_argument("--in-stock", action="store_true", help="only products in stock")


def add_listing_args(p: argparse.ArgumentParser) -> None:
    """How many results, the filters and the reranking strategy: what the vector searches share."""
    p.add_argument("-n", type=count_arg, default=10, help="how many results (default 10)")
    add_filter_args(p)
    p.add_argument("--strategy", type=text_arg, help="reranking strategy (default from the config)")


def filters(args: argparse.Namespace) -> Filters:
    """The Filters of `add_filter_args`; the engine validates them (an inverted price range is refused)."""
    return Filters(category_ids=args.category or [], price_min=args.price_min, price_max=args.price_max,
                   colours=args.colour or [], brands=args.brand or [],
                   exclude_ids=args.exclude or [], active_only=True, in_stock=args.in_stock)


def print_recs(recs: list[Recommendation], as_json: bool) -> list[dict] | None:
    """A result list: the rows for --json to print, else one aligned line per result printed here."""
    rows = [{"rank": r.rank, "id": r.product.id, "sku": r.product.sku, "title": r.product.title,
             "price": r.product.price, "colour": r.product.colour, "category": r.product.category,
             "score": round(r.score, 4), "similarity": None if r.similarity is None else round(r.similarity, 4),
             "vector": r.vector, "reasons": r.reasons, "relation": r.relation} for r in recs]
    if as_json:
        return rows
    for row in rows:
        print(f"{row['rank']:>3}. {row['sku']:<16} {row['title'][:40]:<40} {row['price']:>8.2f}  "
              f"{(row['colour'] or ''):<8} {row['score']:.3f}  {', '.join(row['reasons'])}")
    return None
