"""Commands that ask the recommender for a list: similar products, search by photo or text, trending,
complete the look, and a shopper's personalised list. Each takes its recommender from the runtime
(`Runtime.recommender`), so it ranks with the live config or the one named by --config."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import (Command, add_filter_args, add_listing_args, count_arg, filters, id_arg, print_recs,
                               product_key, runtime, search_text, text_arg)
from engine.errors import ValidationError


def _similar_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("product", type=product_key, help="sku or product id")
    p.add_argument("--by", default="combined", choices=["text", "image", "combined"])
    p.add_argument("--exclude-same-brand", action="store_true")
    p.add_argument("--exclude-same-style", action="store_true", help="leave out other colours of the style")
    add_listing_args(p)


def similar_command(args: argparse.Namespace) -> Any:
    recs = runtime(args).recommender().similar(
        args.product, by=args.by, n=args.n, filters=filters(args), strategy=args.strategy,
        exclude_same_style=args.exclude_same_style, exclude_same_brand=args.exclude_same_brand)
    return print_recs(recs, args.json)


def _search_image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="image file")
    add_listing_args(p)


def search_image_command(args: argparse.Namespace) -> Any:
    res = runtime(args).recommender().search_by_photo(Path(args.path), n=args.n, filters=filters(args),
                                                      strategy=args.strategy)
    if args.json:
        return {"match": res.match, "confidence": round(res.confidence, 4), "results": print_recs(res.items, True)}
    if res.match != "good":
        print(f"loosely related: nothing in the catalog matches the photo well (confidence {res.confidence:.2f}); "
              "the nearest products follow")
    return print_recs(res.items, False)


def _search_text_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", type=search_text)
    p.add_argument("--space", default="text", choices=["text", "combined", "image"],
                   help="image = photos by text (needs CLIP)")
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default=None,
                   help="text space: hybrid (default), or one list alone")
    p.add_argument("--ignore", action="append", choices=["colour", "gender", "category", "price"],
                   help="search without this attribute read from the query (repeatable)")
    add_listing_args(p)


def search_text_command(args: argparse.Namespace) -> Any:
    rec = runtime(args).recommender()
    if args.space != "text":
        if args.mode or args.ignore:
            raise ValidationError("--mode and --ignore apply to the text space only")
        recs = rec.search_by_text(args.query, n=args.n, filters=filters(args), space=args.space,
                                  strategy=args.strategy)
        return print_recs(recs, args.json)
    res = rec.text_search(args.query, n=args.n, filters=filters(args), strategy=args.strategy, mode=args.mode,
                          ignore=args.ignore or ())
    if args.json:
        return {**res.to_json(), "results": print_recs(res.items, True)}
    if res.attributes:
        print("read from the query: " + " · ".join(a.label for a in res.attributes)
              + "  (--ignore KIND searches without one)")
    for note in res.notes:
        print(f"note: {note}")
    if res.loose:
        print(f"loosely related: no good match (confidence {res.confidence:.2f} < {res.threshold:.2f})"
              + (f"; {res.hidden} results held back" if res.hidden else "; the nearest products follow"))
    return print_recs(res.items, False)


def _category_key(text: str) -> int | str:
    """A category named on the command line: digits are its id, anything else its path."""
    return id_arg(text) if text.strip().isascii() and text.strip().isdigit() else text_arg(text)


def _trending_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", type=count_arg, default=10)
    p.add_argument("--category", type=_category_key, help="category id or path, e.g. Men/Tops")


def trending_command(args: argparse.Namespace) -> Any:
    return print_recs(runtime(args).recommender().trending(args.n, category=args.category), args.json)


def _look_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("product", type=product_key, help="sku or product id")
    p.add_argument("-n", type=count_arg, default=None, help="items per complementary category")


def look_command(args: argparse.Namespace) -> Any:
    if args.n is not None and args.n <= 0:
        raise ValidationError(f"-n must be at least 1, got {args.n}")
    recs = runtime(args).recommender().complete_the_look(args.product, n_per_relation=args.n)
    return print_recs(recs, args.json)


def _personalised_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("user", type=text_arg, help="shopper id as in the event log's user_id")
    p.add_argument("-n", type=count_arg, default=10, help="how many results (default 10)")
    p.add_argument("--not-like", type=product_key, action="append", default=[], metavar="PRODUCT",
                   help="sku or id to move away from in this request (repeatable)")
    p.add_argument("--dislike", type=product_key, action="append", default=[], metavar="PRODUCT",
                   help="sku or id to remember as 'not like this' for the shopper (repeatable)")
    add_filter_args(p)


def personalised_command(args: argparse.Namespace) -> Any:
    rec = runtime(args).recommender()
    for product in args.dislike:
        rec.profiles.dislike(args.user, rec.catalog.get(product).id)
    result = rec.personalised(args.user, n=args.n, filters=filters(args),
                              not_like=list(args.not_like))
    if args.json:
        profile = None
        if result.profile is not None:
            profile = {"events": result.profile.events, "categories": result.profile.categories,
                       "price_band": result.profile.price_band}
        return {"served": result.served, "reason": result.reason, "profile": profile,
                "items": print_recs(result.items, True)}
    print(f"{result.served}: {result.reason}", file=sys.stdout)
    print_recs(result.items, False)
    return None


COMMANDS = (
    Command("similar", "products similar to a product (sku or id)", similar_command, _similar_args),
    Command("search-image", "products that look like a photo", search_image_command, _search_image_args),
    Command("search-text", "products matching a text query (ru / tr / en)", search_text_command,
            _search_text_args),
    Command("trending", "most popular products now (time-decayed events)", trending_command, _trending_args),
    Command("look", "complete the look: the best items of each complementary category", look_command,
            _look_args),
    Command("personalised", "products for a shopper from their events (trending on a cold start)",
            personalised_command, _personalised_args),
)
