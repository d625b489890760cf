"""Tuning one TVM workload with MetaSchedule, measured on this machine or on RPC devices: every
measurement into a log, the best into records."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from typing import Any

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms

from lorien.children import dying_with_parent
from lorien.dialects.base import TuneOptions, TuneOutcome
from lorien.dialects.tvm.intrinsics import load_intrinsics_for
from lorien.dialects.tvm.layout_rewrite import space_generator
from lorien.dialects.tvm.target import host_cores, to_tvm_target
from lorien.dialects.tvm.workloads import DIALECT, from_workload
from lorien.errors import TuningError
from lorien.records import Latency, ScheduleRecord, Target, Workload
from lorien.tuning_log import Measurement, TuningLog

#: MetaSchedule stores a failed run as 1e10 seconds; anything this slow is a failure.
_FAILED_RUN_SECS = 1e9
_MAX_ERROR_CHARS = 2000


def valid_runs(runs: list[float]) -> bool:
    """Whether MetaSchedule run times are a real measurement (not its failure marker)."""
    return bool(runs) and all(0 < r < _FAILED_RUN_SECS for r in runs)


def schedule_json(trace: Any) -> str:
    """A MetaSchedule trace as Lorien's schedule string (compact JSON of ``Trace.as_json``)."""
    return json.dumps(plain_json(trace.as_json(remove_postproc=False)), separators=(",", ":"))


def plain_json(value: Any) -> Any:
    """TVM containers and immediates as plain JSON-able Python values; any other TVM object (the
    ``IndexMap`` of a weight layout rewrite) as its object-graph JSON string, which is how TVM's
    own JSONDatabase writes it and how its trace reader reads it back."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, tvm.tirx.IntImm | tvm.tirx.FloatImm):
        return value.value
    if hasattr(value, "items"):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or hasattr(value, "__len__"):
        return [plain_json(v) for v in value]
    if isinstance(value, tvm.runtime.Object):
        return tvm.ir.save_json(value)
    return str(value)


@derived_object
class _MeasurementCollector(ms.measure_callback.PyMeasureCallback):
    """Keeps every candidate MetaSchedule measures, with its error, and reports progress."""

    def __init__(self, total: int, on_trial: Callable[[int, int], None] | None) -> None:
        self.measurements: list[Measurement] = []
        self.total = total
        self.on_trial = on_trial

    def apply(self, task_scheduler: Any, task_id: int, measure_candidates: Any,
              builder_results: Any, runner_results: Any) -> None:
        for candidate, built, ran in zip(measure_candidates, builder_results, runner_results,
                                         strict=True):
            schedule = schedule_json(candidate.sch.trace)
            error = built.error_msg or ran.error_msg
            runs = [float(plain_json(r)) for r in (ran.run_secs or [])]
            if error is None and not valid_runs(runs):
                error = "run produced no valid time"
            if error is not None:
                self.measurements.append(
                    Measurement(schedule, None, str(error)[:_MAX_ERROR_CHARS])
                )
            else:
                self.measurements.append(Measurement(schedule, Latency(tuple(runs))))
        if self.on_trial is not None:
            self.on_trial(min(len(self.measurements), self.total), self.total)


def tune_workload(
    workload: Workload,
    target: Target,
    options: TuneOptions,
    build: str,
    on_trial: Callable[[int, int], None] | None = None,
    builder: ms.builder.Builder | None = None,
    runner: ms.runner.Runner | None = None,
) -> TuneOutcome:
    """Tune ``workload`` for ``target`` with MetaSchedule's evolutionary search, building on this
    machine and measuring on it or, with ``options.rpc``, on the devices of an RPC tracker. The
    search is guided from its first trial by the pre-trained search model unless
    ``options.warm_start`` is off (:func:`search_cost_model`). ``builder`` and ``runner``, when
    given, are kept processes to use (the caller's: see
    :class:`~lorien.dialects.tvm.measure.ScheduleMeasurer`); else the search starts its own.

    Raises:
        TuningError: not a single candidate could be measured.
        InvalidInput: ``options.search_model`` is not a search model file.
    """
    mod = from_workload(workload)
    tvm_target = to_tvm_target(target)
    collector = _MeasurementCollector(options.trials, on_trial)
    started = time.time()
    context = ms.TuneContext(
        mod=mod,
        target=tvm_target,
        space_generator=space_generator(mod, tvm_target),
        search_strategy=ms.search_strategy.EvolutionarySearch(population_size=options.search_population()),
        task_name=workload.name,
        rand_state=options.seed if options.seed is not None else -1,
        num_threads=host_cores(),
        logger=_quiet_logger(),
    )
    if builder is None:
        builder = ms.builder.LocalBuilder(
            timeout_sec=options.build_timeout_s,
            initializer=dying_with_parent(load_intrinsics_for(tvm_target.kind.name)),
        )
    if runner is None:
        runner = make_runner(options)
    with tempfile.TemporaryDirectory(prefix="lorien-tune-") as work_dir:
        ms.tune_tasks(
            tasks=[context],
            task_weights=[1.0],
            work_dir=work_dir,
            max_trials_global=options.trials,
            max_trials_per_task=options.trials,
            num_trials_per_iter=min(options.trials, 64),
            builder=builder,
            runner=runner,
            database=ms.database.MemoryDatabase(),
            cost_model=search_cost_model(options),
            measure_callbacks=[*ms.measure_callback.MeasureCallback.create("default"), collector],
            task_scheduler="round-robin",
        )
    finished = time.time()
    log = TuningLog(
        workload=workload,
        target=target,
        build=build,
        trials=options.trials,
        started_at=started,
        finished_at=finished,
        measurements=tuple(collector.measurements),
        search=search_start(options),
    )
    if not log.measurements:
        raise TuningError(f"MetaSchedule measured no candidate of {workload.name} ({workload.key})")
    records = best_records(log, options.keep)
    return TuneOutcome(records=tuple(records), log=log, seconds=finished - started)


def search_cost_model(options: TuneOptions) -> Any:
    """The cost model the search starts from: the pre-trained search model, or with
    ``options.warm_start`` off MetaSchedule's default (untrained until 100 measurements).

    Raises:
        InvalidInput: ``options.search_model`` is not a search model file.
    """
    if not options.warm_start:
        return "xgb"
    from lorien.dialects.tvm.search_model import SHIPPED_SEARCH_MODEL, warm_cost_model

    return warm_cost_model(options.search_model or SHIPPED_SEARCH_MODEL)


def search_start(options: TuneOptions) -> str:
    """How a search with ``options`` starts, as its tuning log records it: ``cold``, or
    ``warm:<file>@<digest>`` naming the search model."""
    if not options.warm_start:
        return "cold"
    from lorien.dialects.tvm.search_model import SHIPPED_SEARCH_MODEL, search_model_digest

    path = options.search_model or SHIPPED_SEARCH_MODEL
    return f"warm:{path.name}@{search_model_digest(path)}"


def make_runner(options: TuneOptions) -> ms.runner.Runner:
    """Where candidates run: this machine, or the devices of ``options.rpc``'s tracker (one
    session per free device at a time; the builder stays on this machine either way).

    Raises:
        TuningError: the tracker cannot be asked or lists no device under the key (MetaSchedule
            would otherwise wait for a device forever).
    """
    evaluator_config = ms.runner.EvaluatorConfig(
        number=1, repeat=options.repeat, min_repeat_ms=50, enable_cpu_cache_flush=False
    )
    if options.rpc is None:
        return ms.runner.LocalRunner(
            timeout_sec=options.run_timeout_s, evaluator_config=evaluator_config,
            initializer=dying_with_parent(),
        )
    from lorien.dialects.rpc import TrackerError, tracker_status

    endpoint = options.rpc
    try:
        status = tracker_status(endpoint)
    except TrackerError as exc:
        raise TuningError(str(exc)) from None
    if status.registered == 0:
        raise TuningError(f"no device registered under key {endpoint.key!r} at tracker "
                          f"{endpoint.host}:{endpoint.port}")
    return ms.runner.RPCRunner(
        rpc_config=ms.runner.RPCConfig(
            tracker_host=endpoint.host,
            tracker_port=endpoint.port,
            tracker_key=endpoint.key,
            session_priority=1,
            session_timeout_sec=max(1, int(options.session_timeout_s)),
        ),
        evaluator_config=evaluator_config,
        max_workers=max(1, status.free),
        initializer=dying_with_parent(),
    )


def best_records(log: TuningLog, keep: int) -> list[ScheduleRecord]:
    """The ``keep`` fastest distinct schedules of a log, as ``tuned`` records."""
    fastest: dict[str, Measurement] = {}
    for m in log.succeeded:
        assert m.latency is not None
        seen = fastest.get(m.schedule)
        if seen is None or (seen.latency is not None and m.latency.mean < seen.latency.mean):
            fastest[m.schedule] = m
    ranked = sorted(fastest.values(), key=lambda m: m.latency.mean if m.latency else 0.0)
    return [
        ScheduleRecord(
            dialect=DIALECT,
            workload_key=log.workload.key,
            target=log.target,
            build=log.build,
            schedule=m.schedule,
            latency=m.latency,
            source="tuned",
            created_at=log.finished_at,
        )
        for m in ranked[:keep] if m.latency is not None  # all of them: they succeeded
    ]


def _quiet_logger() -> logging.Logger:
    """MetaSchedule's per-task logger, kept off the terminal (Lorien shows its own progress)."""
    logger = logging.getLogger("lorien.tvm.metaschedule")
    logger.setLevel(logging.WARNING)
    return logger
