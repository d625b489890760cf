"""The ``lorien`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from lorien import __version__
from lorien.cli import campaign, db, extract, jobs, predict, query, serve, train, tune, worker
from lorien.cli import compile as compile_command
from lorien.errors import LorienError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lorien",
        description="Deep-learning operator schedules on request: extract a model's workloads, "
                    "tune them, keep the best schedules, and compile with them.",
    )
    parser.add_argument("--version", action="version", version=f"lorien {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (extract, tune, worker, jobs, query, compile_command, db, train, predict, serve,
                    campaign):
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, non-zero with one line on stderr)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except LorienError as exc:
        print(f"lorien: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lorien: interrupted; what finished is stored, run again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
