"""`python -m engine serve`: the HTTP recommendation service under uvicorn, serving the live published config
version and following new ones by itself. Arguments are checked before anything listens."""
from __future__ import annotations

import argparse
from typing import Any

from engine.cli.common import Command, load
from engine.errors import ValidationError, VitrinaError
from engine.settings import Settings


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (more than one needs a Qdrant server: QDRANT_URL)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def serve_command(args: argparse.Namespace) -> Any:
    settings = Settings()
    if not 0 < args.port < 65536:
        raise ValidationError(f"--port must be between 1 and 65535, got {args.port}")
    if args.workers < 1:
        raise ValidationError(f"--workers must be at least 1, got {args.workers}")
    if args.config:
        raise ValidationError("the service serves the live published config, not a file: load the file into "
                              f"the draft and publish it (python -m engine config import {args.config} --editor "
                              "NAME, then python -m engine config publish --author NAME)")
    # uvicorn, FastAPI and the service load here, not when `python -m engine` builds its parser
    uvicorn, server_mod = load("uvicorn"), load("engine.service.server")
    if args.workers > 1:
        if not settings.qdrant_url:
            raise ValidationError("several workers need a Qdrant server (set QDRANT_URL): the embedded store "
                                  "in the data folder admits one process")
        uvicorn.run("engine.service.app:create_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level, http=server_mod.DEFAULT_PROTOCOL,
                    timeout_keep_alive=settings.keep_alive)
        return None
    app = load("engine.service.app").create_app(settings)
    server = uvicorn.Server(server_mod.server_config(app, args.host, args.port, args.log_level))
    server.run()
    if not server.started:  # uvicorn logged why (most often: the port is taken)
        raise VitrinaError(f"could not serve on {args.host}:{args.port}")
    return None


COMMANDS = (
    Command("serve", "run the HTTP recommendation service (uvicorn)", serve_command, _serve_args),
)
