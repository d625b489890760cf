"""``lorien extract``: a model's tunable workloads."""

from __future__ import annotations

import argparse

from lorien.cli.common import (
    format_flops,
    model_options,
    open_schedule_store,
    print_json,
    print_table,
    storage_options,
    target_options,
)
from lorien.errors import InvalidInput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract", parents=[model_options(), target_options(), storage_options()],
        help="list a model's workloads (and remember them in the store)",
        description="List the tunable workloads (fused kernels) of a model for a target: key, "
                    "name, FLOPs and how often the model runs it. The workloads are also stored, "
                    "so 'lorien tune --workload KEY' can find them.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--list", action="store_true", help="list the model zoo and exit")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lorien.datasets.zoo import zoo_entries

    if args.list:
        entries = zoo_entries()
        if args.json:
            print_json([{"name": e.name, "description": e.description} for e in entries])
        else:
            print_table(["model", "description"], [[e.name, e.description] for e in entries])
        return 0
    if not args.model:
        raise InvalidInput("--model is required (or --list to see the zoo)")
    from lorien.cli.models import extract_model

    _, uses = extract_model(args)
    with open_schedule_store(args) as store:
        store.put_workloads(u.workload for u in uses)
    if args.json:
        print_json([
            {"key": u.workload.key, "dialect": u.workload.dialect, "name": u.workload.name,
             "flops": u.workload.flops, "weight": u.weight}
            for u in uses
        ])
    else:
        print_table(
            ["key", "weight", "flops", "name"],
            [[u.workload.key, u.weight, format_flops(u.workload.flops), u.workload.name]
             for u in uses],
        )
        total = sum(u.workload.flops * u.weight for u in uses)
        print(f"{len(uses)} workloads, {format_flops(total)} FLOPs per run")
    return 0
