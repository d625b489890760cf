"""A resumable tuning campaign over the model zoo: the tuning-log data set cost models learn from.

Every distinct workload of the chosen networks (at the chosen batch sizes) becomes a tuning job on
Lorien's queue (:func:`campaign_specs`): a search with a budget of trials, schedules drawn at
random from its design space measured beside it (marked ``random``, so the data set also shows bad
schedules) and the best schedules of its nearest tuned workloads adapted to it (marked
``neighbour``: what an instant answer chooses among), the fastest and every disturbed measurement
taken again. Lorien's workers run the jobs
and write every log (failures included) to a log store. The log store is the campaign's state: a
workload whose logs for this target and build already hold the budget and the samples gets no
job, so the campaign resumes from its logs alone, on a fresh checkout, after any interruption.
``lorien campaign`` (:mod:`lorien.cli.campaign`) runs it.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lorien.datasets.plan_cache import PlanCache
from lorien.dialects import Frontend, Lowering
from lorien.errors import LorienError
from lorien.jobs import JobSpec, check_budget
from lorien.logstore import LogStore, read_logs
from lorien.records import Target, Workload, content_hash
from lorien.tuning_log import TuningLog


@dataclass(frozen=True)
class CampaignWorkload:
    """A workload to tune, with the networks (name@batch) it occurs in."""

    workload: Workload
    networks: tuple[str, ...]


def plan_campaign(dialect: Frontend, target: Target, models: Sequence[str],
                  batches: Sequence[int], lowering: Lowering | None = None,
                  cache: PlanCache | None = None) -> list[CampaignWorkload]:
    """The distinct non-trivial workloads of ``models`` x ``batches`` lowered with ``lowering``
    (the dialect's default when None), interleaved across networks (round robin) so that any
    prefix of the campaign covers every network. ``cache`` keeps each zoo network's workloads, so
    that planning again lowers only what it has not lowered before; a ``module:function`` model
    is lowered every time (its code lies outside what the cache's fingerprint covers)."""
    from lorien.datasets.zoo import load_model, zoo_names

    def lower(model: str, batch: int) -> list[Workload]:
        uses = dialect.extract(dialect.load_model(load_model(model, batch=batch)), target, lowering)
        return [u.workload for u in uses if u.workload.flops > 0]

    per_network: list[list[Workload]] = []
    networks: dict[str, list[str]] = {}
    zoo, build = set(zoo_names()), dialect.build_id()
    lowering_text = "default" if lowering is None else repr(lowering)
    for batch, model in itertools.product(batches, models):
        if cache is None or model not in zoo:
            kept = lower(model, batch)
        else:
            kept = cache.workloads(model, batch, target, lowering_text, build,
                                   functools.partial(lower, model, batch))
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


def log_kind(log: TuningLog) -> str:
    """What a data-set log holds: ``random`` or ``neighbour`` samples (every measurement of that
    origin), else a ``search``. An empty log is neighbour samples to which no neighbour adapted
    when it names no search start (every search since :attr:`TuningLog.search` existed does, and
    a random draw measures at least one schedule), else a search."""
    origins = {m.origin for m in log.measurements}
    if not origins:
        return "search" if log.search is not None else "neighbour"
    return origins.pop() if len(origins) == 1 and origins != {"search"} else "search"


def measured_trials(logs: Iterable[TuningLog], target: Target, build: str) -> dict[str, int]:
    """Trial budget of the tuner's search covered per workload key in ``logs`` (one dialect's, as
    :func:`~lorien.logstore.read_logs` reads them), for this target and build (logs of random or
    neighbour samples do not count: see :func:`random_samples_measured`).

    A log is written when a tuning run finishes, so it covers its whole budget even when it holds
    fewer measurements: the kernel's design space ran out of distinct schedules (an elementwise
    kernel may have one). Counting measurements instead would tune such kernels again forever."""
    return _budgets(logs, target, build, "search")


def random_samples_measured(logs: Iterable[TuningLog], target: Target, build: str) -> dict[str, int]:
    """Random design-space samples asked for per workload key in ``logs``, for this target and
    build (a log's budget, so a kernel whose design space holds fewer distinct schedules is not
    sampled again)."""
    return _budgets(logs, target, build, "random")


def neighbour_samples_measured(logs: Iterable[TuningLog], target: Target, build: str) -> dict[str, int]:
    """Adapted neighbours' schedules asked for per workload key in ``logs``, for this target and
    build (a log's budget, so a kernel to which fewer neighbours adapt is not sampled again)."""
    return _budgets(logs, target, build, "neighbour")


def _budgets(logs: Iterable[TuningLog], target: Target, build: str, kind: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for log in logs:
        if log.target == target and log.build == build and log_kind(log) == kind:
            covered = max(log.trials, len(log.measurements))
            counts[log.workload.key] = counts.get(log.workload.key, 0) + covered
    return counts


def pending(plan: Iterable[CampaignWorkload], done: dict[str, int], trials: int) -> list[CampaignWorkload]:
    """The planned workloads with fewer than ``trials`` measurements logged."""
    return [item for item in plan if done.get(item.workload.key, 0) < trials]


def searched_workloads(logs: Iterable[TuningLog]) -> set[str]:
    """The keys of the workloads whose own design space some log explored, on any target and
    build: a search or random samples (:func:`log_kind`). Adapted neighbours alone do not count:
    they are other kernels' schedules re-tiled, so such a kernel is still new to the data set."""
    return {log.workload.key for log in logs if log_kind(log) != "neighbour"}


def campaign_specs(plan: Sequence[CampaignWorkload], dialect: str, target: Target, build: str, *,
                   searched: dict[str, int], sampled: dict[str, int], trials: int,
                   random_samples: int, remeasure: int,
                   known: Collection[str] | None = None,
                   neighboured: dict[str, int] | None = None, neighbour_samples: int = 0) -> list[JobSpec]:
    """One tuning job per planned workload whose logs lack part of the budget: the search when
    ``searched`` (:func:`measured_trials`) is under ``trials``, the random samples when
    ``sampled`` (:func:`random_samples_measured`) is under ``random_samples``, the neighbour
    samples when ``neighboured`` (:func:`neighbour_samples_measured`) is under
    ``neighbour_samples``, only what is missing. Jobs
    keep the plan's order through their priorities (the first planned runs first), except that
    workloads no CPU has searched or sampled (not in ``known``, :func:`searched_workloads`, when given)
    come before the rest: a kernel new to the data set adds more to it than another CPU's view
    of a known one.

    Raises:
        InvalidInput: a budget that measures nothing, or negative counts.
    """
    check_budget(trials, random_samples, remeasure, neighbour_samples)
    specs = []
    for rank, item in enumerate(plan):
        key = item.workload.key
        search = trials if searched.get(key, 0) < trials else 0
        samples = random_samples if sampled.get(key, 0) < random_samples else 0
        adapted = neighbour_samples if (neighboured or {}).get(key, 0) < neighbour_samples else 0
        new = known is not None and key not in known
        if search or samples or adapted:
            specs.append(JobSpec(dialect=dialect, workload_key=key, workload_name=item.workload.name,
                                 target=target, build=build, trials=search, random_samples=samples,
                                 neighbour_samples=adapted, remeasure=remeasure,
                                 priority=len(plan) - rank + (len(plan) if new else 0)))
    return specs


#: The shipped data set's logs from before tuning logs recorded how their search started were all
#: written by this campaign: those started before this moment (2026-11-30 17:00 UTC) searched cold
#: (MetaSchedule's default), later ones warm (from a search model).
UNRECORDED_SEARCHES_WARM_FROM = 1796058000.0


def search_kind(log: TuningLog) -> str | None:
    """How a data-set log's search started, ``"cold"`` or ``"warm"``; None for a log that is not
    a search (random or neighbour samples, :func:`log_kind`). Read from the log where it says
    (``TuningLog.search``), else from when it ran (:data:`UNRECORDED_SEARCHES_WARM_FROM`)."""
    if not log.measurements or log_kind(log) != "search":
        return None
    if log.search is not None:
        return "cold" if log.search == "cold" else "warm"
    return "warm" if log.started_at >= UNRECORDED_SEARCHES_WARM_FROM else "cold"


def search_logs(logs: Iterable[TuningLog], search: str = "any") -> list[TuningLog]:
    """The searches among ``logs`` (never random or neighbour samples, so that each kernel has the search's
    budget): all of them (``any``), or only those :func:`search_kind` calls ``cold`` or ``warm``."""
    return [log for log in logs if (kind := search_kind(log)) is not None and search in ("any", kind)]


#: The data set's manifest beside its logs (a local file: log stores are written once per key):
#: what the logs hold, per CPU, as :func:`summarize_logs` says.
SUMMARY_KEY = "MANIFEST.json"


def cpu_of(target: Target) -> str:
    """The CPU a target generates code for: its ``mcpu`` where the canonical text is a JSON
    dict that names one (TVM's), else its loose key (``llvm_cpu``)."""
    try:
        parsed = json.loads(target.canonical)
    except ValueError:
        parsed = None
    mcpu = parsed.get("mcpu") if isinstance(parsed, dict) else None
    return str(mcpu) if mcpu else target.loose_key


@dataclass
class _Tally:
    workloads: set[str] = field(default_factory=set)
    machines: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("logs", "search_logs", "random_logs", "neighbour_logs", "measurements", "search", "random",
         "neighbour", "failed"), 0))

    def add(self, log: TuningLog) -> None:
        self.workloads.add(log.workload.key)
        if log.machine is not None and "cpu" in log.machine:
            self.machines.add(str(log.machine["cpu"]))
        kind = log_kind(log)
        for name, value in (("logs", 1), (f"{kind}_logs", 1), ("measurements", len(log.measurements)),
                            (kind, len(log.measurements)),
                            ("failed", len(log.measurements) - len(log.succeeded))):
            self.counts[name] += value

    def to_dict(self) -> dict[str, object]:
        return {**self.counts, "workloads": len(self.workloads), "machines": sorted(self.machines)}


def summarize_logs(logs: LogStore, dialect: str = "tvm") -> dict[str, Any]:
    """What the logs of ``dialect`` hold: distinct workloads, logs and measurements (search picks,
    random samples, adapted neighbours, failures), in all and per CPU (:func:`cpu_of`), with the machines that
    measured them (:attr:`TuningLog.machine`'s CPU model, where recorded). The data set that
    ships with Lorien keeps it beside its logs as :data:`SUMMARY_KEY` (``lorien campaign
    --summary-only``); the test suite checks that it matches them."""
    read, skipped_logs, skipped_lines = read_logs(logs, prefix=f"{dialect}/")
    total, per_cpu = _Tally(), dict[str, _Tally]()
    for log in read:
        total.add(log)
        per_cpu.setdefault(cpu_of(log.target), _Tally()).add(log)
    return {"dialect": dialect, "total": total.to_dict(),
            "cpus": {cpu: tally.to_dict() for cpu, tally in sorted(per_cpu.items())},
            "unreadable_logs": skipped_logs, "unreadable_lines": skipped_lines}
