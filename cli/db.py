"""``lorien db``: move schedules in and out of the store, and check what it holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from lorien.cli.common import (
    lowering_options,
    open_schedule_store,
    print_json,
    print_table,
    storage_options,
)
from lorien.config import open_logs, open_queue, open_store, resolve_logs_uri, resolve_store_uri
from lorien.errors import WrongOutput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="import and export schedules",
                                   description="Import and export schedules.")
    commands = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)

    imp = commands.add_parser(
        "import-metaschedule", parents=[storage_options()],
        help="import a MetaSchedule JSONDatabase folder",
        description="Import the workloads and measured records of a MetaSchedule JSONDatabase "
                    "folder. The whole folder is validated first; a corrupt one imports nothing.",
    )
    imp.add_argument("folder", type=Path)
    imp.add_argument("--dialect", default="tvm", help="dialect of the folder (default tvm)")
    imp.add_argument("--build", default=None,
                     help="compiler build the records were measured with (default: this one)")
    imp.set_defaults(handler=run_import)

    exp = commands.add_parser(
        "export-metaschedule", parents=[storage_options()],
        help="export stored records as a MetaSchedule JSONDatabase folder",
        description="Write the store's records (of one target when given) as a new MetaSchedule "
                    "JSONDatabase folder that TVM's JSONDatabase(work_dir=...) reads.",
    )
    exp.add_argument("folder", type=Path)
    exp.add_argument("--dialect", default="tvm", help="dialect to export (default tvm)")
    exp.add_argument("--target", default=None, help="only records of this target")
    exp.set_defaults(handler=run_export)

    init = commands.add_parser(
        "init", parents=[storage_options()],
        help="create the store's and the job queue's tables and the log bucket",
        description="Create what the store and log URIs need (DynamoDB tables with on-demand "
                    "billing for schedules and for the job queue, an S3 bucket, a SQLite file, a "
                    "folder). Safe to run twice.")
    init.set_defaults(handler=run_init)

    cp = commands.add_parser(
        "copy", help="copy schedules (store to store) or logs (log store to log store)",
        description="Copy every workload and record from one schedule store to another, or every "
                    "log from one log store to another, any backend to any. Resumable: run it "
                    "again after an interruption and it goes on where it stopped.")
    cp.add_argument("--from", dest="source", required=True, metavar="URI")
    cp.add_argument("--to", dest="destination", required=True, metavar="URI")
    cp.add_argument("--restart", action="store_true", help="ignore an earlier run's checkpoint")
    cp.set_defaults(handler=run_copy)

    prune = commands.add_parser(
        "prune", parents=[storage_options()], help="keep only the best N records of every group",
        description="Trim every (workload, target, build, source) group to its N fastest records.")
    prune.add_argument("--keep", type=int, required=True, metavar="N")
    prune.set_defaults(handler=run_prune)

    mig = commands.add_parser(
        "migrate", parents=[storage_options(), lowering_options()],
        help="give models' kernels under the current lowering the records that can move to them",
        description="For each model, find its kernels under the chosen lowering. A kernel with "
                    "records needs nothing; a prepacked kernel without records takes its plain "
                    "twin's records (same code, checked to apply); every other kernel changed "
                    "(for example BatchNorm folded into a convolution) and is listed with the "
                    "command that covers it. Idempotent.")
    mig.add_argument("--model", action="append", metavar="NAME",
                     help="a zoo network or module:function (repeat it; default: the whole zoo)")
    mig.add_argument("--batch", type=int, default=1, help="batch size of zoo networks (default 1)")
    mig.add_argument("--dialect", default="tvm", help="dialect of the models (default tvm)")
    mig.add_argument("--target", default="host", help="target the models are lowered for")
    mig.add_argument("--dry-run", action="store_true", help="report what would move; write nothing")
    mig.add_argument("--json", action="store_true", help="print JSON")
    mig.set_defaults(handler=run_migrate)

    chk = commands.add_parser(
        "check", parents=[storage_options()],
        help="check stored schedules' outputs; delete the wrong ones with --delete",
        description="Build and run the stored schedules the dialect suspects (for TVM, those not "
                    "drawn from their kernel's own design space), or every one with --all, each "
                    "against its kernel unscheduled, on this machine. Prints each wrong record; "
                    "exits 6 while wrong records remain in the store.")
    chk.add_argument("--dialect", default="tvm", help="dialect of the records (default tvm)")
    chk.add_argument("--all", dest="every", action="store_true",
                     help="check every record, not only the suspect ones (about a second each)")
    chk.add_argument("--delete", action="store_true", help="delete the records found wrong")
    chk.add_argument("--json", action="store_true", help="print JSON")
    chk.set_defaults(handler=run_check)

    st = commands.add_parser("stats", parents=[storage_options()], help="what the store holds",
                             description="Workloads, records and groups, by dialect, target, build "
                                         "and source.")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=run_stats)


def run_import(args: argparse.Namespace) -> int:
    from lorien.dialects import NativeDB, get_dialect

    dialect = get_dialect(args.dialect, NativeDB)
    build = args.build or dialect.build_id()
    workloads, records = dialect.import_native_database(args.folder, build)
    with open_schedule_store(args) as store:
        new = store.put_workloads(workloads)
        result = store.commit(records)
    print(f"imported {len(workloads)} workloads ({new} new) and {len(records)} measured records "
          f"({result.kept} kept as best-{store.keep}) from {args.folder} as build {build}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from lorien.dialects import NativeDB, get_dialect

    dialect = get_dialect(args.dialect, NativeDB)
    target = dialect.parse_target(args.target) if args.target else None
    with open_schedule_store(args) as store:
        records = list(store.records(dialect=dialect.name, target=target))
        workloads = store.list_workloads(dialect.name)
    written = dialect.export_native_database(args.folder, workloads, records)
    print(f"exported {written} records of {len({r.workload_key for r in records})} workloads "
          f"to {args.folder}")
    return 0


def run_init(args: argparse.Namespace) -> int:
    store_uri, logs_uri = resolve_store_uri(args.store), resolve_logs_uri(args.logs)
    with open_store(store_uri, create=True) as store:
        count = store.count()
    with open_queue(store_uri, create=True) as queue:
        jobs = sum(queue.counts().values())
    open_logs(logs_uri, create=True).close()
    print(f"ready: store {store_uri} ({count} records), job queue ({jobs} jobs), logs {logs_uri}")
    return 0


def run_copy(args: argparse.Namespace) -> int:
    import sys

    from tqdm import tqdm

    from lorien.admin import copy

    with tqdm(desc="copying", unit="item", disable=not sys.stderr.isatty(), leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        report = copy(args.source, args.destination, progress=progress, restart=args.restart)
    if report.kind == "logs":
        print(f"copied {report.logs} logs ({report.skipped} already there) to {args.destination}")
    else:
        resumed = f", resumed after workload {report.resumed_after}" if report.resumed_after else ""
        print(f"copied {report.records} records and {report.workloads} new workloads "
              f"({report.skipped} workloads done by an earlier run{resumed}) to {args.destination}")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    with open_schedule_store(args) as store:
        deleted = store.prune(args.keep)
        left = store.count()
    print(f"deleted {deleted} records; {left} left (at most {args.keep} per group)")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from lorien.dialects import OutputChecker, get_dialect
    from lorien.dialects.store_check import check_store

    dialect = get_dialect(args.dialect, OutputChecker)
    with open_schedule_store(args) as store:
        report = check_store(store, dialect, every=args.every, delete=args.delete)
    left = len(report.wrong) - report.deleted
    if args.json:
        print_json({"workloads": report.workloads, "records": report.records, "right": report.right,
                    "skipped": dict(report.skipped), "deleted": report.deleted, "wrong": [
                        {"workload_key": w.record.workload_key, "workload": w.workload_name,
                         "target": w.record.target.canonical, "source": w.record.source,
                         "record_id": w.record.record_id, "why": w.why} for w in report.wrong]})
    else:
        for w in report.wrong:
            print(f"wrong: {w.workload_name} [{w.record.source}, {w.record.target.canonical}]: {w.why}")
        skipped = sum(report.skipped.values())
        print(f"{report.records} records of {report.workloads} workloads: {report.right} right, "
              f"{len(report.wrong)} wrong ({report.deleted} deleted), {skipped} not checked")
    return WrongOutput.exit_code if left else 0


def run_migrate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from lorien.cli.common import lowering_of
    from lorien.datasets.zoo import load_model, zoo_names
    from lorien.dialects import Frontend, get_dialect
    from lorien.dialects.migrate import migrate_model
    from lorien.errors import InvalidInput

    if args.batch < 1:
        raise InvalidInput(f"--batch must be at least 1, got {args.batch}")
    dialect = get_dialect(args.dialect, Frontend)
    target = dialect.parse_target(args.target)
    lowering = lowering_of(args) or dialect.default_lowering
    reports = []
    with open_schedule_store(args) as store:
        for name in args.model or zoo_names():
            model = dialect.load_model(load_model(name, batch=args.batch))
            reports.append(migrate_model(store, dialect, name, model, target, lowering,
                                         dry_run=args.dry_run))
    if args.json:
        print_json({"lowering": lowering.name, "dry_run": args.dry_run,
                    "models": [asdict(r) for r in reports]})
        return 0
    verb = "would copy" if args.dry_run else "copied"
    print(f"{store.uri}: kernels lowered {lowering.name}")
    print_table(["model", "kernels", "had records", "re-keyed", "uncovered", "retired (records)"],
                [[r.model, r.kernels, r.covered, len(r.rekeyed), len(r.uncovered),
                  f"{r.retired} ({r.retired_records})"] for r in reports])
    for r in reports:
        moved = sum(r.rekeyed.values())
        if moved:
            print(f"{r.model}: {verb} {moved} records to {len(r.rekeyed)} kernels from the same "
                  "kernels lowered the other way")
        for kernel, problem in r.refused.items():
            print(f"{r.model}: not copied to {kernel}: {problem}")
        if r.uncovered:
            flag = "--prepack" if lowering.prepack else "--no-prepack"
            print(f"{r.model}: {len(r.uncovered)} kernels changed and have no records; cover them "
                  f"with 'lorien tune --model {r.model} {flag}' or 'lorien predict --model {r.model} "
                  f"{flag} --commit'")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from lorien.admin import stats

    result = stats(resolve_store_uri(args.store))
    if args.json:
        print_json(asdict(result))
        return 0
    print(f"{result.workloads} workloads ({result.tuned_workloads} with tuned records), "
          f"{result.records} records in {result.groups} groups")
    for title, counter in (("dialect", result.by_dialect), ("target", result.by_target),
                           ("build", result.by_build), ("source", result.by_source)):
        if counter:
            print_table([title, "records"], [[name, n] for name, n in counter.most_common()])
    return 0
