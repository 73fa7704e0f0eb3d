"""`python -m engine <command>`: the parser is built from the command groups listed in GROUPS, so the set of
commands is read here rather than gathered by importing modules for their side effects.

Every command has --help and --json. What the user sees on failure is one line, never a traceback: an
argument refused by its type (a product id past 2^63-1, text that is not UTF-8) exits 2, as does a
VitrinaError (bad input, unknown product, invalid config) exits 2, anything else exits 1 as
"error: <type>: <message>", its traceback logged only with -v. Under --json either is printed as
{"error", "message"} on stdout, where a script reads it. A reader that goes away (`| head`) ends the command
with exit 1 and no traceback.

`--retry-models` (before the command) tries CLIP again where an earlier run found it unavailable: that outcome is
remembered in the data folder until the weights appear (engine/encoders/availability.py)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, NoReturn

from engine.cli import catalog, config, evaluate, events, jobs, search, serve
from engine.cli.common import Command, jsonable
from engine.encoders.factory import retry_models
from engine.errors import VitrinaError

log = logging.getLogger(__name__)

GROUPS: tuple[tuple[Command, ...], ...] = (
    catalog.COMMANDS, search.COMMANDS, config.COMMANDS, events.COMMANDS, evaluate.COMMANDS, serve.COMMANDS,
    jobs.COMMANDS,
)
COMMANDS: dict[str, Command] = {c.name: c for group in GROUPS for c in group}


class Parser(argparse.ArgumentParser):
    """A refused argument is one line on stderr and exit 2, like the engine's own refusals: argparse's usage
    block in front of it would push the reason off a narrow terminal."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per Command of GROUPS, each with --json, its own arguments, and --config when it ranks."""
    parser = Parser(prog="python -m engine", description="Vitrina recommendation engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    parser.add_argument("--retry-models", action="store_true",
                        help="try loading CLIP again even where an earlier run found it unavailable (that outcome "
                             "is remembered in the data folder until the weights appear)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for group in GROUPS:
        for cmd in group:
            p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
            p.add_argument("--json", action="store_true", help="print machine-readable JSON")
            if cmd.ranks:
                p.add_argument("--config", help="a config file (YAML) to rank with instead of the live published "
                                                "version")
            p.set_defaults(handler=cmd.handler)
            if cmd.arguments:
                cmd.arguments(p)
    return parser


def _fail(args: argparse.Namespace, error: BaseException, line: str) -> None:
    """Report a failed command: the JSON error object under --json, else `line` on stderr."""
    if args.json:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    else:
        print(line, file=sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's flush at exit does not fail on the closed pipe again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a file descriptor (captured): nothing to flush into a pipe
        pass


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 done, 1 unexpected failure, 2 refused, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.retry_models:
        retry_models()
    try:
        out: Any = args.handler(args)
        if args.json and out is not None:
            print(json.dumps(jsonable(out), ensure_ascii=False, indent=2))
    except VitrinaError as e:
        _fail(args, e, f"error: {e}")
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`| head`): nothing more can be said to it, and no traceback
        _silence_stdout()
        return 1
    except Exception as e:  # a bug or a broken environment: one line for the user, the traceback under -v
        log.info("%s failed", args.command, exc_info=True)
        message = " ".join(str(e).split())  # one line even when the message has several
        _fail(args, e, f"error: {type(e).__name__}: {message}" if message else f"error: {type(e).__name__}")
        return 1
    return 0
