"""``lorien db``: move schedules in and out of the store."""

from __future__ import annotations

import argparse
from pathlib import Path

from lorien.cli.common import open_schedule_store, storage_options


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


def run_import(args: argparse.Namespace) -> int:
    from lorien.dialects import get_dialect

    dialect = get_dialect(args.dialect)
    build = args.build or dialect.build_id()
    workloads, records = dialect.import_native_database(args.folder, build)
    with open_schedule_store(args) as store:
        new = store.put_workloads(workloads)
        result = store.commit(records)
    print(f"imported {len(workloads)} workloads ({new} new) and {len(records)} measured records "
          f"({result.kept} kept as best-{store.keep}) from {args.folder} as build {build}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from lorien.dialects import get_dialect

    dialect = get_dialect(args.dialect)
    target = dialect.parse_target(args.target) if args.target else None
    with open_schedule_store(args) as store:
        records = list(store.records(dialect=dialect.name, target=target))
        workloads = store.list_workloads(dialect.name)
    written = dialect.export_native_database(args.folder, workloads, records)
    print(f"exported {written} records of {len({r.workload_key for r in records})} workloads "
          f"to {args.folder}")
    return 0
