"""What every subcommand shares: the storage and target flags, opening stores, printing."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lorien.config import data_dir, open_logs, open_store, resolve_logs_uri, resolve_store_uri
from lorien.dialects.base import Lowering
from lorien.logstore import LogStore
from lorien.store import ScheduleStore


def storage_options(*, nested: bool = False) -> argparse.ArgumentParser:
    """A parent parser with ``--store`` and ``--logs``.

    Args:
        nested: for a sub-command of a command that has these flags too: set only when given, so
            ``lorien jobs --store X retry`` and ``lorien jobs retry --store X`` mean the same.
    """
    parser = argparse.ArgumentParser(add_help=False,
                                     argument_default=argparse.SUPPRESS if nested else None)
    group = parser.add_argument_group("storage")
    group.add_argument("--store", metavar="URI",
                       help="schedule store, e.g. sqlite:///path/lorien.db (env LORIEN_STORE; "
                            "default under the user's data folder)")
    group.add_argument("--logs", metavar="URI",
                       help="tuning-log store, e.g. file:///path/logs (env LORIEN_LOGS)")
    return parser


def target_options() -> argparse.ArgumentParser:
    """A parent parser with ``--target`` and ``--dialect``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--target", default="host",
                        help="'host' (this CPU, detected), a kind such as 'cuda', or a TVM JSON "
                             "target dict (default: host)")
    parser.add_argument("--dialect", default="tvm", help="compiler dialect (default: tvm)")
    return parser


def lowering_options() -> argparse.ArgumentParser:
    """A parent parser with ``--prepack`` / ``--no-prepack`` (read it with :func:`lowering_of`)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--prepack", action=argparse.BooleanOptionalAction, default=None,
                        help="lower with weight prepacking (weights packed once at build time into "
                             "the layout each kernel's schedule wants) or without; the two give "
                             "different kernels, so tune, predict and compile the same way "
                             "(default: the dialect's, see the README)")
    return parser


def model_options() -> argparse.ArgumentParser:
    """A parent parser with ``--model``, ``--batch`` and the lowering's options."""
    parser = argparse.ArgumentParser(add_help=False, parents=[lowering_options()])
    parser.add_argument("--model", metavar="NAME",
                        help="a zoo network (see 'lorien extract --list'), or module:function / "
                             "file.py:function returning a model")
    parser.add_argument("--batch", type=int, default=1, help="batch size of zoo networks (default 1)")
    return parser


def lowering_of(args: argparse.Namespace) -> Lowering | None:
    """The lowering ``--prepack`` / ``--no-prepack`` chose, or None for the dialect's default."""
    prepack = getattr(args, "prepack", None)
    return None if prepack is None else Lowering(prepack=prepack)


def open_schedule_store(args: argparse.Namespace) -> ScheduleStore:
    return open_store(resolve_store_uri(args.store))


def open_log_store(args: argparse.Namespace) -> LogStore:
    return open_logs(resolve_logs_uri(args.logs))


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain, aligned text table on stdout."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def format_seconds(seconds: float) -> str:
    """``1.23 ms``-style latency."""
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} us"


def format_flops(flops: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.2f}{unit}"
    return f"{flops:.0f}"


def service_token_file() -> Path:
    """Where ``lorien serve`` keeps the token it made, under this user's data folder."""
    return data_dir() / "service-token"


def service_token() -> str | None:
    """The service's write token for a client: ``LORIEN_SERVICE_TOKEN``, else the token file
    of a service this user started here (:func:`service_token_file`), else None."""
    if os.environ.get("LORIEN_SERVICE_TOKEN"):
        return os.environ["LORIEN_SERVICE_TOKEN"]
    path = service_token_file()
    return path.read_text().strip() if path.is_file() else None
