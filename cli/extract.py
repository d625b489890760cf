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
    parser.add_argument("--list", action="store_true",
                        help="list the model zoo with each network's task count and exit")
    parser.set_defaults(handler=run)


def list_zoo(args: argparse.Namespace, entries: list) -> int:
    """The zoo with each network's task count at ``--batch`` for ``--target`` (extracted now, one
    network per process on every core: lowering is single-threaded and a network takes seconds)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from lorien.dialects import get_dialect

    target = get_dialect(args.dialect).parse_target(args.target).canonical
    jobs = [(args.dialect, target, entry.name, args.batch, args.prepack) for entry in entries]
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        counted = list(tqdm(pool.map(_count_tasks, jobs), total=len(jobs), desc="extracting",
                            unit="model", leave=False))
    rows = [{"name": entry.name, "description": entry.description, "tasks": tasks, "flops": flops}
            for entry, (tasks, flops) in zip(entries, counted, strict=True)]
    if args.json:
        print_json(rows)
    else:
        print_table(["model", "tasks", "flops", "description"],
                    [[r["name"], r["tasks"], format_flops(r["flops"]), r["description"]] for r in rows])
    return 0


def _count_tasks(job: tuple[str, str, str, int, bool | None]) -> tuple[int, float]:
    """In a worker process: one zoo network's task count and FLOPs per run."""
    from lorien.datasets.zoo import load_model
    from lorien.dialects import Frontend, Lowering, get_dialect

    dialect_name, target_text, name, batch, prepack = job
    dialect = get_dialect(dialect_name, Frontend)
    lowering = None if prepack is None else Lowering(prepack=prepack)
    uses = dialect.extract(dialect.load_model(load_model(name, batch=batch)),
                           dialect.parse_target(target_text), lowering)
    return len(uses), sum(u.workload.flops * u.weight for u in uses)


def run(args: argparse.Namespace) -> int:
    from lorien.datasets.zoo import zoo_entries

    if args.list:
        return list_zoo(args, zoo_entries())
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
