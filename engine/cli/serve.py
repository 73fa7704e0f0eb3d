"""`python -m engine serve` (the HTTP service) and `python -m engine personalised` (a shopper's list).

Registered with engine/cli.py's `command` decorator, each with its own argument setup, so these commands
live beside the code they drive; build_parser imports this module."""
from __future__ import annotations

import argparse
import os
import sys

from engine.cli.main import _filters, _print_recs, _runtime, add_filter_args, command
from engine.errors import ValidationError
from engine.settings import Settings


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (more than one needs a Qdrant server: QDRANT_URL)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


@command("serve", "run the HTTP recommendation service (uvicorn)", _serve_arguments)
def cmd_serve(args):
    import uvicorn

    settings = Settings()
    if not 0 < args.port < 65536:
        raise ValidationError(f"--port must be between 1 and 65535, got {args.port}")
    if args.workers < 1:
        raise ValidationError(f"--workers must be at least 1, got {args.workers}")
    if args.config:
        os.environ["VITRINA_CONFIG"] = os.path.abspath(args.config)  # worker processes read it from here
    if args.workers > 1:
        if not settings.qdrant_url:
            raise ValidationError("several workers need a Qdrant server (set QDRANT_URL): the embedded store "
                                  "in the data folder admits one process")
        uvicorn.run("engine.service.app:create_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level)
        return None
    from engine.service.app import create_app

    app = create_app(settings, config_path=args.config)  # a bad config fails here, before listening
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return None



def _personalised_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("user", help="shopper id as in the event log's user_id")
    p.add_argument("-n", type=int, default=10, help="how many results (default 10)")
    p.add_argument("--not-like", action="append", default=[], metavar="PRODUCT",
                   help="sku or id to move away from in this request (repeatable)")
    p.add_argument("--dislike", action="append", default=[], metavar="PRODUCT",
                   help="sku or id to remember as 'not like this' for the shopper (repeatable)")
    add_filter_args(p)


def _key(text: str) -> int | str:
    return int(text) if text.isdigit() else text


@command("personalised", "products for a shopper from their events (trending on a cold start)",
         _personalised_arguments)
def cmd_personalised(args):
    rt = _runtime(args)
    rec = rt.recommender()
    store = rec.profiles
    for product in args.dislike:
        store.dislike(args.user, rec.catalog.get(_key(product)).id)
    result = rec.personalised(args.user, n=args.n, filters=_filters(args),
                              not_like=[_key(p) for p in args.not_like])
    if args.json:
        profile = None
        if result.profile is not None:
            profile = {"events": result.profile.events, "categories": result.profile.categories,
                       "price_band": result.profile.price_band}
        return {"served": result.served, "reason": result.reason, "profile": profile,
                "items": _print_recs(result.items, True)}
    print(f"{result.served}: {result.reason}", file=sys.stdout)
    _print_recs(result.items, False)
    return None

