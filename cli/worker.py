"""``lorien worker``: claim and run measuring and tuning jobs from the shared queue, anywhere."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from lorien.cli.common import open_log_store, open_schedule_store, storage_options
from lorien.config import data_dir
from lorien.errors import InvalidInput
from lorien.store.base import ScheduleStore


def worker_options() -> argparse.ArgumentParser:
    """A parent parser with what ``lorien worker`` and ``lorien tune`` pass on to workers."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("workers")
    group.add_argument("--rpc", metavar="HOST:PORT:KEY",
                       help="measure on the devices registered with this RPC tracker under KEY")
    group.add_argument("--lease", type=float, default=60.0, metavar="S",
                       help="seconds a claimed job is trusted without a heartbeat (60)")
    group.add_argument("--device-grace", type=float, default=30.0, metavar="S",
                       help="give a job back when its devices (RPC tracker, servers) are gone this "
                            "long (30)")
    group.add_argument("--stall-timeout", type=float, default=1800.0, metavar="S",
                       help="give a job back when no measurement finishes for this long (1800)")
    group.add_argument("--job-timeout", type=float, default=6 * 3600.0, metavar="S",
                       help="give a job back after this long in all (21600)")
    group.add_argument("--session-timeout", type=float, default=60.0, metavar="S",
                       help="seconds one RPC measurement session may take (60)")
    group.add_argument("--search-model", type=Path, metavar="FILE",
                       help="the pre-trained cost model that guides each search from its first trial "
                            "(default: the one trained on the data set Lorien ships)")
    group.add_argument("--cold-start", action="store_true",
                       help="search without a pre-trained model (the compiler's default: TVM picks at "
                            "random until 100 measurements)")
    group.add_argument("--cost-model", default=None, metavar="TAG",
                       help="the registered cost model that ranks a measuring job's candidates "
                            "(default: the shipped one)")
    group.add_argument("--tune-only", action="store_true",
                       help="claim tuning jobs only, leaving measuring jobs to other workers")
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", parents=[storage_options(), worker_options()],
        help="claim and run measuring and tuning jobs from the queue",
        description="Claim jobs from the queue beside the store, measuring jobs (the cost model's "
                    "best candidates measured, a measured record) before tuning jobs (a full "
                    "search: tuned records and the full log); run each on this machine or on RPC "
                    "devices, heartbeat meanwhile, and commit. Any number of workers may run "
                    "anywhere against the same store; a worker that dies loses nothing (its job's "
                    "lease expires and another worker runs it).")
    parser.add_argument("--target", default=None,
                        help="claim only jobs for this target (default: any target)")
    parser.add_argument("--dialect", default=None,
                        help="claim only this dialect's jobs (default: every installed dialect; "
                             "--target is parsed by it, or by tvm)")
    parser.add_argument("--max-jobs", type=int, default=None, metavar="N", help="stop after N jobs")
    parser.add_argument("--idle-exit", type=float, default=None, metavar="S",
                        help="stop after S seconds with nothing to claim (default: wait for work)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.set_defaults(handler=run)


def worker_config(args: argparse.Namespace, **overrides: Any) -> Any:
    """The :class:`~lorien.tuner.worker.WorkerConfig` the shared worker flags describe."""
    from lorien.dialects import RPCEndpoint
    from lorien.tuner.worker import WorkerConfig

    for flag in ("lease", "device_grace", "stall_timeout", "job_timeout", "session_timeout"):
        if not getattr(args, flag) > 0:
            raise InvalidInput(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    if args.search_model is not None:
        if args.cold_start:
            raise InvalidInput("--search-model and --cold-start exclude each other")
        if not args.search_model.is_file():
            raise InvalidInput(f"--search-model: no file at {args.search_model}")
        from lorien.dialects import TuneOptions, Tuner, get_dialect

        problem = get_dialect(getattr(args, "dialect", None) or "tvm", Tuner).tune_options_problem(
            TuneOptions(search_model=args.search_model))
        if problem is not None:
            raise InvalidInput(f"--search-model: {problem}")
    return WorkerConfig(
        lease_s=args.lease, heartbeat_s=max(0.5, min(10.0, args.lease / 4)),
        rpc=RPCEndpoint.parse(args.rpc) if args.rpc else None, health_grace_s=args.device_grace,
        stall_timeout_s=args.stall_timeout, job_timeout_s=args.job_timeout,
        session_timeout_s=args.session_timeout, warm_start=not args.cold_start,
        search_model=args.search_model.resolve() if args.search_model else None, **overrides)


def job_measurer(args: argparse.Namespace, store: ScheduleStore, rpc: Any) -> Any:
    """The :class:`~lorien.predictor.JobMeasurer` of a worker: ``--cost-model`` (checked now when
    named; the shipped model is registered on the first measuring job) over ``store``.

    Raises:
        NotFound: ``--cost-model`` names no registered model.
    """
    from lorien.predictor import CostModelScorer, JobMeasurer, ZeroShotPredictor
    from lorien.training.shipped import DEFAULT_MODEL, ensure_shipped_model

    os.environ.setdefault("BENTOML_HOME", str(data_dir() / "bentoml"))
    tag = ensure_shipped_model(args.cost_model) if args.cost_model else DEFAULT_MODEL

    def predictor(name: str) -> ZeroShotPredictor:
        from lorien.dialects import Proposer, get_dialect
        from lorien.training.registry import load_model

        model, metadata = load_model(ensure_shipped_model(tag))
        return ZeroShotPredictor(store, CostModelScorer(model, metadata, get_dialect(name, Proposer), tag))

    return JobMeasurer(predictor, rpc=rpc)


def run(args: argparse.Namespace) -> int:
    from lorien.config import open_queue, resolve_store_uri
    from lorien.dialects import get_dialect
    from lorien.tuner.worker import Worker

    if args.max_jobs is not None and args.max_jobs < 1:
        raise InvalidInput(f"--max-jobs must be at least 1, got {args.max_jobs}")
    if args.idle_exit is not None and args.idle_exit < 0:
        raise InvalidInput(f"--idle-exit cannot be negative, got {args.idle_exit}")
    dialect = get_dialect(args.dialect or "tvm")
    target = dialect.parse_target(args.target).canonical if args.target else None
    config = worker_config(args, max_jobs=args.max_jobs, idle_exit_s=args.idle_exit, target=target,
                           dialects=(dialect.name,) if args.dialect else None)
    say = None if args.quiet else (lambda line: print(f"[{config.worker_id}] {line}", flush=True))
    with open_schedule_store(args) as store, open_queue(resolve_store_uri(args.store)) as queue:
        from lorien.predictor import NeighbourIndex

        worker = Worker(queue, store, open_log_store(args), config, on_event=say,
                        measurer=None if args.tune_only else job_measurer(args, store, config.rpc),
                        neighbours=NeighbourIndex(store).lend)

        def stop(signum: int, frame: object) -> None:
            worker.stop()
            if worker.current is not None:  # give the job in hand back now, not at lease expiry
                raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            report = worker.run()
        except KeyboardInterrupt:
            print("lorien worker: stopped; the job in hand went back to the queue", file=sys.stderr)
            return 130
    if not args.quiet:
        print(f"worker {config.worker_id}: {len(report.done)} done, {len(report.given_up)} given up, "
              f"{len(report.lost)} finished elsewhere")
    return 0
