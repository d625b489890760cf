"""``lorien query``: the best stored schedules of a workload."""

from __future__ import annotations

import argparse
import datetime

from lorien.cli.common import (
    format_seconds,
    open_schedule_store,
    print_json,
    print_table,
    storage_options,
    target_options,
)
from lorien.errors import InvalidInput, NotFound


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query", parents=[target_options(), storage_options()],
        help="show a workload's best stored schedules",
        description="Show the best stored schedules of a workload for a target.",
    )
    parser.add_argument("--workload", required=True, metavar="KEY", help="workload key")
    parser.add_argument("--top", type=int, default=1, metavar="K", help="how many (default 1)")
    parser.add_argument("--loose", action="store_true",
                        help="any target of the same kind (e.g. any llvm_cpu), not just this one")
    parser.add_argument("--build", default=None, help="only records of this compiler build")
    parser.add_argument("--json", action="store_true", help="print JSON records")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lorien.dialects import get_dialect

    if args.top < 1:
        raise InvalidInput(f"--top must be at least 1, got {args.top}")
    dialect = get_dialect(args.dialect)
    target = dialect.parse_target(args.target)
    with open_schedule_store(args) as store:
        records = store.top_k(args.workload, target, args.top,
                              match="loose" if args.loose else "exact", build=args.build)
        workload = store.get_workload(dialect.name, args.workload)
    if not records:
        if workload is None:
            raise NotFound(f"no workload {args.workload!r} in the store")
        raise NotFound(f"no schedule of {args.workload} ({workload.name[:60]}) for target "
                       f"{target.canonical}{'' if args.loose else '; try --loose'}")
    if args.json:
        print_json([r.to_dict() for r in records])
        return 0
    if workload is not None:
        print(f"{workload.key}  {workload.name}")
    print_table(
        ["rank", "latency", "GFLOP/s", "source", "build", "measured", "log"],
        [[rank, format_seconds(r.latency.mean),
          f"{workload.flops / r.latency.mean / 1e9:.1f}" if workload else "-",
          r.source, r.build,
          datetime.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M"),
          r.log_ref or "-"]
         for rank, r in enumerate(records, start=1)],
    )
    return 0
