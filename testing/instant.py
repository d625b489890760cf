"""A dialect with no compiler that "tunes" at once: for queue benchmarks, worker tests and fault
drills, where the tuner's own behaviour is under test and a real compiler would only add minutes.

Given an RPC endpoint, it asks the tracker whether devices are there, as the TVM dialect does
(:meth:`measurement_problem`), so workers' watchdogs can be drilled against a real tracker in
seconds; it measures nothing on them.

Its workloads carry their behaviour in the payload, as JSON (see :func:`instant_workload`):
``seconds`` (how long tuning takes, reported as progress in steps) and ``fail`` (every
measurement fails). Schedules and latencies are derived from the workload key, the trial number
and the seed, so the same job gives the same records in any process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import ClassVar

from lorien.dialects.base import TuneOptions, TuneOutcome
from lorien.dialects.roles import Tuner
from lorien.errors import InvalidInput, TuningError
from lorien.records import Latency, ScheduleRecord, Target, Workload, content_hash
from lorien.tuning_log import Measurement, TuningLog

DIALECT = "instant"
BUILD = "instant-1"


def instant_workload(key: str, seconds: float = 0.0, fail: bool = False) -> Workload:
    """A workload of the instant dialect whose tuning takes ``seconds`` (and fails if ``fail``)."""
    payload = json.dumps({"seconds": seconds, "fail": fail}, sort_keys=True)
    return Workload(dialect=DIALECT, key=key, name=f"instant[{key}]", flops=1e6, payload=payload)


class InstantDialect(Tuner):
    """Tunes any of its workloads in ``seconds`` (from the payload) without a compiler: the
    :class:`~lorien.dialects.roles.Tuner` role alone (it reads, measures and builds nothing)."""

    name: ClassVar[str] = DIALECT

    def parse_target(self, text: str) -> Target:
        if not text:
            raise InvalidInput("a target cannot be empty")
        return Target(canonical=text, loose_key=f"instant_{text.split(':')[0]}")

    def build_id(self) -> str:
        return BUILD

    def measurement_problem(self, target: Target, options: TuneOptions) -> str | None:
        if options.rpc is None:
            return None
        from lorien.dialects.rpc import tracker_problem

        return tracker_problem(options.rpc)

    def tune(self, workload: Workload, target: Target, options: TuneOptions,
             on_trial: Callable[[int, int], None] | None = None) -> TuneOutcome:
        try:
            behaviour = json.loads(workload.payload)
            seconds, fail = float(behaviour.get("seconds", 0.0)), bool(behaviour.get("fail", False))
        except (ValueError, AttributeError) as exc:
            raise InvalidInput(f"workload {workload.key} is not an instant workload: {exc}") from exc
        started = time.time()
        measurements = []
        for trial in range(options.trials):
            if seconds > 0:
                time.sleep(seconds / options.trials)
            schedule = f"instant-schedule-{content_hash(workload.key, str(trial), str(options.seed))}"
            if fail:
                measurements.append(Measurement(schedule, None, "instant workload set to fail"))
            else:
                mean = 1e-4 * (1 + int(content_hash(schedule, length=6), 16) / 0xFFFFFF)
                measurements.append(Measurement(schedule, Latency((mean, mean * 1.01, mean * 0.99))))
            if on_trial is not None:
                on_trial(trial + 1, options.trials)
        finished = time.time()
        log = TuningLog(workload=workload, target=target, build=BUILD, trials=options.trials,
                        started_at=started, finished_at=finished, measurements=tuple(measurements))
        ok = sorted(log.succeeded, key=lambda m: (m.latency.mean if m.latency else 0.0, m.schedule))
        if not ok:
            raise TuningError(f"every measurement of {workload.name} failed")
        records = tuple(ScheduleRecord(dialect=DIALECT, workload_key=workload.key, target=target, build=BUILD,
                                       schedule=m.schedule, latency=m.latency, created_at=finished)
                        for m in ok[:options.keep] if m.latency is not None)
        return TuneOutcome(records=records, log=log, seconds=finished - started)
