"""A resumable tuning campaign over the model zoo: the tuning-log data set cost models learn from.

Every distinct workload of the chosen networks (at the chosen batch sizes) is tuned with a budget
of trials through Lorien's own tuner, and its full log (every measurement, failures included) is
written to a log store; then a number of schedules drawn at random from its design space are
measured and logged too (marked ``random``), so the data set also shows bad schedules. The log
store is the campaign's state: a workload whose logs for this target and build already hold the
budget and the samples is skipped, so the campaign resumes from its logs alone, on a fresh
checkout, after any interruption.

    python -m lorien.datasets.campaign --logs file://$PWD/datasets/tuning_logs --trials 64 \
        --random-samples 16
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lorien.dialects import CandidateOptions, Dialect, Lowering, TuneOptions, get_dialect
from lorien.errors import LorienError
from lorien.logstore import LogStore, log_key, read_logs
from lorien.records import Target, Workload, content_hash
from lorien.tuning_log import Measurement, TuningLog


@dataclass(frozen=True)
class CampaignWorkload:
    """A workload to tune, with the networks (name@batch) it occurs in."""

    workload: Workload
    networks: tuple[str, ...]


def plan_campaign(dialect: Dialect, target: Target, models: Sequence[str],
                  batches: Sequence[int], lowering: Lowering | None = None) -> list[CampaignWorkload]:
    """The distinct non-trivial workloads of ``models`` x ``batches`` lowered with ``lowering``
    (the dialect's default when None), interleaved across networks (round robin) so that any
    prefix of the campaign covers every network."""
    from lorien.datasets.zoo import load_model

    per_network: list[list[Workload]] = []
    networks: dict[str, list[str]] = {}
    for batch, model in itertools.product(batches, models):
        uses = dialect.extract(dialect.load_model(load_model(model, batch=batch)), target, lowering)
        kept = [u.workload for u in uses if u.workload.flops > 0]
        per_network.append(kept)
        for workload in kept:
            networks.setdefault(workload.key, []).append(f"{model}@{batch}")
    seen: set[str] = set()
    plan: list[CampaignWorkload] = []
    for round_ in itertools.zip_longest(*per_network):
        for workload in round_:
            if workload is not None and workload.key not in seen:
                seen.add(workload.key)
                plan.append(CampaignWorkload(workload, tuple(networks[workload.key])))
    return plan


MANIFEST_PREFIX = "campaign/networks-"


def write_manifest(logs: LogStore, plan: Sequence[CampaignWorkload]) -> str:
    """Record which networks each planned workload occurs in (content-addressed, so plans of
    different zoo versions sit side by side); returns its key."""
    body = json.dumps({item.workload.key: list(item.networks) for item in plan}, sort_keys=True)
    return logs.put(f"{MANIFEST_PREFIX}{content_hash(body)}.json", body.encode())


def read_networks(logs: LogStore) -> dict[str, set[str]]:
    """Workload key -> the networks (``model@batch``) it occurs in, merged over every manifest."""
    networks: dict[str, set[str]] = {}
    for key in logs.list(MANIFEST_PREFIX):
        try:
            manifest = json.loads(logs.get(key))
        except (LorienError, ValueError):
            continue
        if not isinstance(manifest, dict):
            continue
        for workload_key, names in manifest.items():
            networks.setdefault(str(workload_key), set()).update(str(n) for n in names)
    return networks


def _is_random_samples(log: TuningLog) -> bool:
    return bool(log.measurements) and all(m.origin == "random" for m in log.measurements)


def measured_trials(logs: LogStore, dialect: str, target: Target, build: str) -> dict[str, int]:
    """Trial budget of the tuner's search covered per workload key in the log store, for this
    target and build (logs of random samples do not count: see :func:`random_samples_measured`).

    A log is written when a tuning run finishes, so it covers its whole budget even when it holds
    fewer measurements: the kernel's design space ran out of distinct schedules (an elementwise
    kernel may have one). Counting measurements instead would tune such kernels again forever."""
    counts: dict[str, int] = {}
    for log in read_logs(logs, prefix=f"{dialect}/")[0]:
        if log.target == target and log.build == build and not _is_random_samples(log):
            covered = max(log.trials, len(log.measurements))
            counts[log.workload.key] = counts.get(log.workload.key, 0) + covered
    return counts


def random_samples_measured(logs: LogStore, dialect: str, target: Target, build: str) -> dict[str, int]:
    """Random design-space samples asked for per workload key, for this target and build (a log's
    budget, so a kernel whose design space holds fewer distinct schedules is not sampled again)."""
    counts: dict[str, int] = {}
    for log in read_logs(logs, prefix=f"{dialect}/")[0]:
        if log.target == target and log.build == build and _is_random_samples(log):
            covered = max(log.trials, len(log.measurements))
            counts[log.workload.key] = counts.get(log.workload.key, 0) + covered
    return counts


def pending(plan: Iterable[CampaignWorkload], done: dict[str, int], trials: int) -> list[CampaignWorkload]:
    """The planned workloads with fewer than ``trials`` measurements logged."""
    return [item for item in plan if done.get(item.workload.key, 0) < trials]


def measure_random_samples(dialect: Dialect, workload: Workload, target: Target, count: int,
                           options: TuneOptions) -> TuningLog:
    """A log of ``count`` schedules drawn at random from the workload's design space and measured
    on this machine (``options.repeat`` runs each), every measurement marked ``random``: what the
    tuner's search would never keep, so that a cost model also sees bad schedules (as TenSet's
    data set does). Seeded by the workload key, so a re-run draws the same schedules.

    Raises:
        TuningError: the dialect cannot sample the kernel's design space.
    """
    seed = int(content_hash(workload.key, "random-samples")[:8], 16)
    candidates = dialect.candidates(workload, target, [], None, CandidateOptions(samples=count, seed=seed))
    schedules = [s for s, origin in zip(candidates.schedules, candidates.origins, strict=True)
                 if origin == "space"][:count]
    started = time.time()
    latencies = dialect.measure(workload, target, schedules, options) if schedules else []
    measurements = tuple(
        Measurement(schedule, latency, None if latency is not None else "failed to build or run",
                    origin="random")
        for schedule, latency in zip(schedules, latencies, strict=True))
    return TuningLog(workload, target, dialect.build_id(), count, started, time.time(), measurements)


#: The shipped data set's logs from before tuning logs recorded how their search started were all
#: written by this campaign: those started before this moment (2026-11-30 17:00 UTC) searched cold
#: (MetaSchedule's default), later ones warm (from a search model).
UNRECORDED_SEARCHES_WARM_FROM = 1796058000.0


def search_kind(log: TuningLog) -> str | None:
    """How a data-set log's search started, ``"cold"`` or ``"warm"``; None for a log that is not
    a search (random design-space samples). Read from the log where it says (``TuningLog.search``),
    else from when it ran (:data:`UNRECORDED_SEARCHES_WARM_FROM`)."""
    if not log.measurements or all(m.origin == "random" for m in log.measurements):
        return None
    if log.search is not None:
        return "cold" if log.search == "cold" else "warm"
    return "warm" if log.started_at >= UNRECORDED_SEARCHES_WARM_FROM else "cold"


def search_logs(logs: Iterable[TuningLog], search: str = "any") -> list[TuningLog]:
    """The searches among ``logs`` (never random samples, so that each kernel has the search's
    budget): all of them (``any``), or only those :func:`search_kind` calls ``cold`` or ``warm``."""
    return [log for log in logs if (kind := search_kind(log)) is not None and search in ("any", kind)]


def main(argv: Sequence[str] | None = None) -> int:
    from lorien.config import open_logs, open_store, resolve_logs_uri, resolve_store_uri
    from lorien.datasets.zoo import zoo_names
    from lorien.tuner import tune_workloads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=zoo_names())
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--target", default="host")
    parser.add_argument("--logs", default=None, help="log store URI (the campaign's state)")
    parser.add_argument("--store", default=None, help="schedule store URI for the best records")
    parser.add_argument("--prepack", action=argparse.BooleanOptionalAction, default=None,
                        help="the kernels of the prepacked lowering, or of the plain one (default: "
                             "the dialect's)")
    parser.add_argument("--random-samples", type=int, default=16,
                        help="random design-space samples measured per workload beside the search (16)")
    parser.add_argument("--cold-start", action="store_true",
                        help="search without the pre-trained search model (as the data set's first "
                             "logs were collected)")
    parser.add_argument("--search-model", type=Path, metavar="FILE",
                        help="the search model that guides the searches (default: the shipped one)")
    parser.add_argument("--max-workloads", type=int, default=None, help="stop after this many")
    parser.add_argument("--plan-only", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)

    if args.cold_start and args.search_model is not None:
        parser.error("--search-model and --cold-start exclude each other")
    dialect = get_dialect("tvm")
    search = TuneOptions(trials=args.trials, warm_start=not args.cold_start, search_model=args.search_model)
    problem = dialect.tune_options_problem(search)
    if problem is not None:
        parser.error(problem)
    target = dialect.parse_target(args.target)
    lowering = None if args.prepack is None else Lowering(prepack=args.prepack)
    plan = plan_campaign(dialect, target, args.models, args.batches, lowering)
    logs = open_logs(resolve_logs_uri(args.logs))
    write_manifest(logs, plan)
    build = dialect.build_id()
    todo = pending(plan, measured_trials(logs, dialect.name, target, build), args.trials)
    unsampled = pending(plan, random_samples_measured(logs, dialect.name, target, build),
                        args.random_samples)
    print(f"campaign: {len(plan)} distinct workloads, {len(plan) - len(todo)} tuned, "
          f"{len(todo)} to tune at {args.trials} trials, {len(unsampled)} to sample at "
          f"{args.random_samples} random schedules", flush=True)
    if args.plan_only:
        for item in plan:
            print(item.workload.key, ",".join(item.networks), item.workload.name)
        return 0
    failed = 0
    with open_store(resolve_store_uri(args.store)) as store:
        # one workload at a time, its search then its samples, so that any prefix is usable
        for item in (todo + [i for i in unsampled if i not in todo])[: args.max_workloads]:
            if item in todo:
                report = tune_workloads(dialect, [item.workload], target, store, logs, search,
                                        force=True)
                failed += len(report.failed)
            if item in unsampled and args.random_samples > 0:
                try:
                    log = measure_random_samples(dialect, item.workload, target, args.random_samples,
                                                 TuneOptions(trials=args.random_samples))
                except LorienError as exc:
                    print(f"{item.workload.name}: no random samples: {exc}", flush=True)
                    failed += 1
                    continue
                data = log.to_bytes()
                logs.put(log_key(dialect.name, item.workload.key, data), data)
                print(f"{item.workload.name}: {len(log.succeeded)}/{len(log.measurements)} random "
                      "samples measured", flush=True)
    print(f"done; {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
