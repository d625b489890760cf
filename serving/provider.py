"""What the service does, without HTTP: find, predict, queue and report schedules.

The BentoML service (:mod:`lorien.serving.service`) is a thin shell over :class:`ScheduleProvider`;
everything here is testable with a store file and no server. A request names a workload (its key,
or the whole workload when it may be new) and a target; the answer is the store's best record by
:func:`lorien.lookup.find_schedule`, else a schedule predicted on the spot. Whatever is not tuned
for exactly this target and build gets a refill job in the queue, its priority rising by one with
every request that wanted it, so a later answer is a tuned schedule. What has no measured answer
for this target gets a short measuring job too, which workers take before any tuning job: the
same request a minute later is answered with a measured schedule, later with a tuned one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import math
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lorien.config import open_queue, open_store, resolve_store_uri
from lorien.dialects import Dialect, Measurer, Proposer, TuneOptions, get_dialect, require
from lorien.errors import InvalidInput, LorienError, NotFound, TuningError
from lorien.jobs import TERMINAL_STATES, JobSpec, JobTier
from lorien.lookup import Found, find_schedule
from lorien.predictor import (
    BudgetedPredictor,
    CostModelScorer,
    PredictOptions,
    ZeroShotPredictor,
    store_predictions,
)
from lorien.queue import JobQueue
from lorien.records import ScheduleRecord, Target, Workload, WorkloadUse
from lorien.serving.schemas import (
    MAX_BUDGET_S,
    Answer,
    BatchAnswer,
    CommitAnswer,
    HealthAnswer,
    JobAnswer,
    ModelAnswer,
    PredictionAnswer,
    WorkloadBody,
    WorkloadRef,
)
from lorien.store.base import ScheduleStore
from lorien.tuner.submit import job_spec


class Unauthorized(LorienError):
    """A write without the service's token."""


class Busy(LorienError):
    """Every prediction slot stayed taken for the whole wait: the client should retry later."""


@dataclass(frozen=True)
class ServiceSettings:
    """How a service instance runs; :meth:`from_env` reads them from ``LORIEN_*`` variables.

    Attributes:
        store_uri: the schedule store (and queue) to serve from.
        model: the registered cost model's tag (``LORIEN_MODEL``).
        token: the secret that write endpoints require (``LORIEN_SERVICE_TOKEN``); None refuses
            every write.
        refill: queue tuning for what is not tuned for the exact target (``LORIEN_REFILL``).
        refill_trials: the budget of those jobs (``LORIEN_REFILL_TRIALS``).
        refill_measure: candidates measured by the measuring job queued beside the tuning job of a
            workload with no measured answer for the target (``LORIEN_REFILL_MEASURE``; 0 queues
            none).
        predict: how hard a miss is predicted (``LORIEN_MEASURE_TOP_K``: measure the cost model's
            best K on this machine and answer the fastest; 0, the default, measures nothing).
        max_predictions: predictions one service process runs at once
            (``LORIEN_MAX_PREDICTIONS``); prediction is open to every client, so this bounds the
            CPU they can take.
        prediction_wait_s: how long one request may wait for prediction slots, all its misses
            together (``LORIEN_PREDICTION_WAIT_S``); past it a miss that finds no free slot is
            answered ``missing`` (still queued for tuning), and ``/predict`` with HTTP 429.
        max_predictions_per_client: of those slots, how many one client (one address) may hold
            at once (``LORIEN_MAX_PREDICTIONS_PER_CLIENT``), so one client cannot take them all.
        max_budget_s: the largest time budget a ``/schedules`` request may ask for
            (``LORIEN_MAX_BUDGET_S``; the request is held that long, so at most
            :data:`MAX_BUDGET_S`, which leaves the service's request timeout room).
        health_counts_s: how old ``/health``'s job counts and record groups may get before they
            are counted again (``LORIEN_HEALTH_COUNTS_S``); counting reads every job and group.
    """

    store_uri: str
    model: str = "lorien-cost-model"
    token: str | None = None
    refill: bool = True
    refill_trials: int = 32
    refill_measure: int = 16
    predict: PredictOptions = field(default_factory=PredictOptions)
    max_predictions: int = 2
    prediction_wait_s: float = 30.0
    max_predictions_per_client: int = 1
    max_budget_s: float = 300.0
    health_counts_s: float = 60.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_budget_s) and 0 <= self.max_budget_s <= MAX_BUDGET_S):
            raise InvalidInput(f"max_budget_s must be seconds between 0 and {MAX_BUDGET_S:g}, "
                               f"got {self.max_budget_s}")
        if self.max_predictions < 1:
            raise InvalidInput(f"max_predictions must be at least 1, got {self.max_predictions}")
        if self.refill_measure < 0:
            raise InvalidInput(f"refill_measure cannot be negative, got {self.refill_measure}")
        if self.max_predictions_per_client < 1:
            raise InvalidInput(f"max_predictions_per_client must be at least 1, "
                               f"got {self.max_predictions_per_client}")
        if not (math.isfinite(self.health_counts_s) and self.health_counts_s >= 0):
            raise InvalidInput(f"health_counts_s must be a finite number of seconds, not negative, "
                               f"got {self.health_counts_s}")
        if not (math.isfinite(self.prediction_wait_s) and self.prediction_wait_s >= 0):
            raise InvalidInput(f"prediction_wait_s must be a finite number of seconds, not negative, "
                               f"got {self.prediction_wait_s}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ServiceSettings:
        """Settings from the environment (the service's processes inherit ``lorien serve``'s).

        Raises:
            InvalidInput: a malformed number.
        """
        measure, refill_measure = (_count(environ, name) for name in ("LORIEN_MEASURE_TOP_K",
                                                                      "LORIEN_REFILL_MEASURE"))
        wait_s, max_budget_s, counts_s = (
            _seconds(environ, name, default) for name, default in
            (("LORIEN_PREDICTION_WAIT_S", 30.0), ("LORIEN_MAX_BUDGET_S", 300.0),
             ("LORIEN_HEALTH_COUNTS_S", 60.0)))
        return cls(store_uri=resolve_store_uri(None, environ),
                   model=environ.get("LORIEN_MODEL", "lorien-cost-model"),
                   token=environ.get("LORIEN_SERVICE_TOKEN") or None,
                   refill=environ.get("LORIEN_REFILL", "1") not in ("0", "false", "no"),
                   refill_trials=_positive_int(environ, "LORIEN_REFILL_TRIALS", 32),
                   refill_measure=16 if refill_measure is None else refill_measure,
                   predict=PredictOptions(measure_top_k=measure or 0),
                   max_predictions=_positive_int(environ, "LORIEN_MAX_PREDICTIONS", 2),
                   prediction_wait_s=wait_s,
                   max_predictions_per_client=_positive_int(environ, "LORIEN_MAX_PREDICTIONS_PER_CLIENT", 1),
                   max_budget_s=max_budget_s, health_counts_s=counts_s)


class ScheduleProvider:
    """Answers schedule requests from a store, a queue and a cost model.

    Thread safety: every method may be called from several threads at once (the service runs
    synchronous endpoints in a thread pool). Concurrent misses of the same workload and target
    predict once; the others wait and read the stored prediction. At most
    ``settings.max_predictions`` predictions run at once, and at most
    ``settings.max_predictions_per_client`` of them for one client (the ``client`` a request
    names: the service passes the caller's address); a request that cannot get a slot within
    ``settings.prediction_wait_s`` gets ``missing`` for a miss, :class:`Busy` from
    :meth:`predict_only`. Measuring candidates (``measure_top_k``) builds code on the service's
    machine, so :meth:`predict_only` measures only for a caller with the token.

    Ownership: the provider opens and owns its store and queue unless they are given; call
    :meth:`close` when done.

    Errors: bad requests raise :class:`InvalidInput`, unknown workloads or jobs :class:`NotFound`,
    writes without the token :class:`Unauthorized`, no prediction slot :class:`Busy`, store failures
    :class:`lorien.errors.StoreError`.
    """

    def __init__(self, settings: ServiceSettings, *, store: ScheduleStore | None = None,
                 queue: JobQueue | None = None, model: tuple[Any, dict[str, Any]] | None = None) -> None:
        self.settings = settings
        self._owns = store is None
        self.store = store or open_store(settings.store_uri, create=True)
        self.queue = queue or open_queue(settings.store_uri, create=True)
        if model is None:
            from lorien.training.registry import load_model
            from lorien.training.shipped import ensure_shipped_model

            self.model_tag = ensure_shipped_model(settings.model)
            model = load_model(self.model_tag)
        else:
            self.model_tag = settings.model
        self.model, self.model_metadata = model
        self._predictors: dict[str, ZeroShotPredictor] = {}
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], threading.Lock] = {}
        self._counting = threading.Lock()
        self._counts: tuple[dict[str, int], int, float | None] = ({}, 0, None)
        self._prediction_slots = threading.BoundedSemaphore(settings.max_predictions)
        self._client_slots: dict[str, int] = {}
        self._client_slots_freed = threading.Condition()
        self._trained_kinds: dict[str, set[str]] = {}
        self._budget_lock = threading.Lock()

    # -- answers -----------------------------------------------------------------------------------
    def answer(self, ref: WorkloadRef, target_text: str, *, predict: bool = True,
               refill: bool = True, client: str | None = None) -> Answer:
        """The schedule of one workload for a target (see the module docstring).

        Raises:
            InvalidInput: unknown dialect, malformed target or workload.
            NotFound: a key the store does not know, without the workload.
        """
        started = time.perf_counter()
        target = self._target(self._dialect(ref), target_text)  # the cheap check first
        dialect, workload = self._workload(ref)
        return self._answer(dialect, workload, target, predict, refill, started,
                            self._slot_deadline(), client)

    def answer_many(self, refs: Sequence[WorkloadRef], target_text: str, *, predict: bool = True,
                    refill: bool = True, client: str | None = None, budget_s: float | None = None,
                    weights: Sequence[int] | None = None, token: str | None = None,
                    unknown: Literal["refuse", "answer"] = "refuse") -> BatchAnswer:
        """Answers for many workloads of one target (a whole model), in the order given.

        Every reference is checked before anything is predicted or queued, so one bad workload
        fails the request and changes nothing. A key the store does not know fails it too
        (:class:`NotFound`), unless ``unknown`` is ``"answer"``: that workload is then answered
        ``unknown`` and nothing is done for it, so a client can name every workload by key first
        and send only the unknown ones whole (a model's payloads are megabytes).

        With ``budget_s`` (requires the token: it builds code here) the answers are first improved
        for that long by a budgeted delivery on this machine
        (:class:`lorien.predictor.BudgetedPredictor`) over the known workloads, spread by
        ``weights`` (how many times the model runs each workload; 1 each by default) times
        estimated latency; one budgeted delivery runs at a time, since measurements sharing the
        cores skew each other.

        Raises:
            Unauthorized: a budget without the token.
            InvalidInput: a budget above ``settings.max_budget_s``, for another CPU than this
                machine's, for workloads of several dialects, or with ``predict`` off; weights
                that are not one per workload.
            Busy: another budgeted delivery kept running for the whole wait.
        """
        started = time.perf_counter()
        deadline = self._slot_deadline()  # one wait for the whole batch, not one per miss
        if budget_s:
            self.check_token(token)
            if not predict:
                raise InvalidInput("budget_s improves predicted answers: it cannot go with predict: false")
        if weights is not None and len(weights) != len(refs):
            raise InvalidInput(f"weights: {len(weights)} for {len(refs)} workloads")
        found = [self._workload_or_none(ref) if unknown == "answer" else self._workload(ref) for ref in refs]
        resolved = [item for item in found if item is not None]
        targets: dict[str, Target] = {}
        answers = []
        for dialect, _ in resolved:
            if dialect.name not in targets:
                targets[dialect.name] = self._target(dialect, target_text)
        delivery: dict[str, Any] = {}
        if budget_s and resolved:
            known_weights = None if weights is None else [w for w, item in zip(weights, found, strict=True)
                                                         if item is not None]
            delivery = self._deliver_within(resolved, targets, budget_s, known_weights, deadline, client)
        for ref, item in zip(refs, found, strict=True):
            if item is None:
                answers.append(Answer(key=str(ref.key), status="unknown",
                                      detail="not stored here: send the whole workload"))
                continue
            dialect, workload = item
            answers.append(self._answer(dialect, workload, targets[dialect.name], predict, refill,
                                        time.perf_counter(), deadline, client))
        counts = {s: sum(a.status == s for a in answers)
                  for s in ("tuned", "measured", "predicted", "missing", "unknown")}
        return BatchAnswer(answers=answers, seconds=time.perf_counter() - started, delivery=delivery,
                           **counts)

    def _deliver_within(self, resolved: Sequence[tuple[Dialect, Workload]], targets: Mapping[str, Target],
                        budget_s: float, weights: Sequence[int] | None, slot_deadline: float,
                        client: str | None) -> dict[str, Any]:
        """Run a budgeted delivery for the batch; what it did, for the answer."""
        if not (math.isfinite(budget_s) and 0 < budget_s <= self.settings.max_budget_s):
            raise InvalidInput(f"budget_s must be seconds above 0, at most {self.settings.max_budget_s:g} "
                               f"here, got {budget_s}")
        if len(targets) != 1:
            raise InvalidInput("a budget covers the workloads of one dialect; these have "
                               + ", ".join(sorted(targets)))
        [target] = targets.values()
        dialect = resolved[0][0]
        self._check_predictable(dialect, target)
        self._check_measurable(dialect, target, "budget_s")
        uses = [WorkloadUse(workload, weight) for (_, workload), weight
                in zip(resolved, weights or [1] * len(resolved), strict=True)]
        if not self._budget_lock.acquire(timeout=max(0.0, slot_deadline - time.monotonic())):
            raise Busy(f"another budgeted delivery kept this service's CPU for the whole wait "
                       f"({self.settings.prediction_wait_s:g} s); retry later")
        try:
            with self._prediction_slot(slot_deadline, client):
                report = BudgetedPredictor(self._predictor(dialect)).deliver(uses, target, budget_s)
        finally:
            self._budget_lock.release()
        return {"budget_s": budget_s, "seconds": report.seconds, "instant_s": report.instant_s,
                "kernels": len(report.kernels),
                "kernels_measured": sum(k.measured > 0 for k in report.kernels),
                "candidates_measured": sum(k.measured for k in report.kernels)}

    def predict_only(self, ref: WorkloadRef, target_text: str, measure_top_k: int = 0, *,
                     client: str | None = None, token: str | None = None) -> PredictionAnswer:
        """The cost model's choice for a workload, whatever the store holds; stores nothing.

        Raises:
            Unauthorized: ``measure_top_k`` without the service's token.
        """
        if measure_top_k:
            self.check_token(token)  # measuring builds code here: not for anonymous clients
        target = self._target(self._dialect(ref), target_text)  # the cheap check first
        dialect, workload = self._workload(ref)
        self._check_predictable(dialect, target)
        if measure_top_k:
            self._check_measurable(dialect, target, "measure_top_k")
        options = dataclasses.replace(self.settings.predict, measure_top_k=measure_top_k)
        with self._prediction_slot(self._slot_deadline(), client):
            prediction = self._predictor(dialect).predict(workload, target, options=options)
        return PredictionAnswer(key=workload.key, record=prediction.record.to_dict(), score=prediction.score,
                                measured=prediction.measured, origin=prediction.origin,
                                candidates=prediction.candidates, neighbours=prediction.neighbours,
                                seconds=prediction.seconds, compiles=prediction.compiles,
                                passed_over=prediction.passed_over)

    # -- writes --------------------------------------------------------------------------------------
    def check_token(self, presented: str | None) -> None:
        """Raises :class:`Unauthorized` unless ``presented`` is the service's token."""
        expected = self.settings.token
        if expected is None:
            raise Unauthorized("this service accepts no writes: it was started without a token")
        if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Unauthorized("a valid token is required (Authorization: Bearer TOKEN)")

    def enqueue(self, ref: WorkloadRef, target_text: str, *, priority: int = 0,
                trials: int | None = None) -> JobAnswer:
        """Queue tuning of a workload (re-queue it when done with a smaller budget, or failed)."""
        target = self._target(self._dialect(ref), target_text)  # the cheap check first
        dialect, workload = self._workload(ref)
        spec = self._spec(dialect, workload, target, trials or self.settings.refill_trials, priority)
        self.store.put_workloads([workload])
        report = self.queue.enqueue([spec])
        verdict = next(name for name in ("added", "queued", "requeued", "done")
                       if spec.job_id in getattr(report, name))
        return JobAnswer(job=self._job(spec.job_id), enqueued=verdict)

    def commit(self, workloads: Sequence[WorkloadBody], records: Sequence[Mapping[str, Any]]) -> CommitAnswer:
        """Store workloads and records measured elsewhere. Every record's workload must be stored
        or given; everything is checked before anything is written."""
        checked = [self._workload(WorkloadRef(workload=w, dialect=w.dialect))[1] for w in workloads]
        known = {(w.dialect, w.key): w for w in checked}
        parsed = [ScheduleRecord.from_dict(r) for r in records]
        for number, record in enumerate(parsed):
            dialect = get_dialect(record.dialect)
            workload = known.get((record.dialect, record.workload_key)) or \
                self.store.get_workload(record.dialect, record.workload_key)
            if workload is None:
                raise NotFound(f"record of unknown workload {record.workload_key}: send the workload too")
            if dialect.parse_target(record.target.canonical) != record.target:
                raise InvalidInput(f"record {number}: its target is not in the dialect's canonical form")
            problem = dialect.schedule_problem(workload, record.schedule)
            if problem is not None:  # checked where a crash cannot take the service down
                raise InvalidInput(f"record {number}: {problem}")
        added = self.store.put_workloads(checked)
        result = self.store.commit(parsed)
        return CommitAnswer(workloads=added, kept=result.kept, dropped=result.dropped)

    # -- status --------------------------------------------------------------------------------------
    def job(self, job_id: str) -> JobAnswer:
        return JobAnswer(job=self._job(job_id))

    def model_info(self) -> ModelAnswer:
        return ModelAnswer(tag=self.model_tag, metadata=self.model_metadata)

    def ready(self) -> str | None:
        """Why the service cannot answer now (None: it can): one point read of the store and one
        of the queue, whatever their size (the readiness probe asks it every few seconds).
        Never raises."""
        try:
            self.store.get_workload("lorien", "readiness-probe")
            self.queue.get("readiness-probe")
        except LorienError as exc:
            return str(exc)
        return None

    def health(self) -> HealthAnswer:
        """:meth:`ready`, with the queue's job counts and the store's record groups. Counting
        reads every job and group, so the counts are sampled: counted at most once per
        ``settings.health_counts_s`` (the first time at once, later in a background thread
        while the last counts are answered) and answered with their age. Never raises."""
        problem = self.ready()
        counts, groups, counted_at = self._counts
        if counted_at is None and problem is None:
            self._count_now()
            counts, groups, counted_at = self._counts
        elif counted_at is not None and time.monotonic() - counted_at > self.settings.health_counts_s:
            self._count_in_background()
        age = -1.0 if counted_at is None else round(time.monotonic() - counted_at, 3)
        return HealthAnswer(ok=problem is None, store=self.store.uri, queue=counts, model=self.model_tag,
                            record_groups=groups, counts_age_s=age, detail=problem or "")

    def _count_now(self) -> None:
        with self._counting:
            try:
                counts, groups = self.queue.counts(), sum(1 for _ in self.store.groups())
            except LorienError:
                return  # the probe says what is wrong; the last counts stay
            self._counts = (counts, groups, time.monotonic())

    def _count_in_background(self) -> None:
        if self._counting.locked():
            return  # one count at a time
        threading.Thread(target=self._count_now, name="lorien-health-counts", daemon=True).start()

    def close(self) -> None:
        if self._owns:
            self.store.close()
            self.queue.close()

    # -- inside ----------------------------------------------------------------------------------
    def _answer(self, dialect: Dialect, workload: Workload, target: Target, predict: bool, refill: bool,
                started: float, slot_deadline: float, client: str | None) -> Answer:
        build = dialect.build_id()
        found = find_schedule(self.store, workload.key, target, build, dialect.equivalent_keys(workload))
        detail = ""
        if found is None and predict:
            try:
                self._check_predictable(dialect, target)
                found = self._predict_once(dialect, workload, target, build, slot_deadline, client)
            except (InvalidInput, TuningError, Busy) as exc:  # nothing predicted: missing, still queued
                detail = str(exc)
        job: dict[str, Any] = {}
        measure_job: dict[str, Any] = {}
        if refill and self.settings.refill and (found is None or not found.complete):
            job, measure_job = self._refill(dialect, workload, target, found)
        if found is None:
            return Answer(key=workload.key, status="missing", job=job, measure_job=measure_job,
                          detail=detail or "no schedule stored", seconds=time.perf_counter() - started)
        return Answer(key=workload.key, status=found.record.source, match=found.match,
                      record=found.record.to_dict(), job=job, measure_job=measure_job,
                      seconds=time.perf_counter() - started)

    def _predict_once(self, dialect: Dialect, workload: Workload, target: Target, build: str,
                      slot_deadline: float, client: str | None) -> Found | None:
        """Predict and store, once per workload and target across this process's threads."""
        key = (workload.key, target.canonical)
        with self._lock:
            lock = self._in_flight.setdefault(key, threading.Lock())
        try:
            with lock:
                equivalents = dialect.equivalent_keys(workload)
                found = find_schedule(self.store, workload.key, target, build, equivalents)
                if found is None:
                    options = self.settings.predict
                    if options.measure_top_k and not self._measurable(dialect, target):
                        options = dataclasses.replace(options, measure_top_k=0)  # not this machine's CPU
                    with self._prediction_slot(slot_deadline, client):
                        prediction = self._predictor(dialect).predict(workload, target, options=options)
                    store_predictions(self.store, [workload], [prediction])
                    found = Found(prediction.record, "exact", prediction.record.build == build)
        finally:
            with self._lock:
                self._in_flight.pop(key, None)
        return found

    def _slot_deadline(self) -> float:
        """Until when a request starting now may wait for prediction slots, in all."""
        return time.monotonic() + self.settings.prediction_wait_s

    @contextlib.contextmanager
    def _prediction_slot(self, deadline: float, client: str | None = None) -> Iterator[None]:
        """Hold one of the prediction slots for the block, waiting for one until ``deadline``
        (past it, only a slot free at once is taken). A ``client`` first waits for one of its own
        ``max_predictions_per_client`` slots.

        Raises:
            Busy: none came free in time.
        """
        with self._client_slot(deadline, client):
            if not self._prediction_slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise Busy(f"the service is busy: its {self.settings.max_predictions} prediction slot(s) "
                           f"stayed taken while this request could wait "
                           f"({self.settings.prediction_wait_s:g} s); retry later")
            try:
                yield
            finally:
                self._prediction_slots.release()

    @contextlib.contextmanager
    def _client_slot(self, deadline: float, client: str | None) -> Iterator[None]:
        """Count one prediction against ``client`` for the block (nothing when None)."""
        if client is None:
            yield
            return
        limit = self.settings.max_predictions_per_client
        with self._client_slots_freed:
            while self._client_slots.get(client, 0) >= limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Busy(f"this client already runs {limit} prediction(s) at once, the most one "
                               f"client may; retry when they are answered")
                self._client_slots_freed.wait(remaining)
            self._client_slots[client] = self._client_slots.get(client, 0) + 1
        try:
            yield
        finally:
            with self._client_slots_freed:
                left = self._client_slots.pop(client) - 1
                if left:
                    self._client_slots[client] = left
                self._client_slots_freed.notify_all()

    def _refill(self, dialect: Dialect, workload: Workload, target: Target,
                found: Found | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Make sure a job will tune the workload and, while no schedule was measured for exactly
        this target, that a measuring job will measure it first; each call adds one to a waiting
        job's priority. A failed or cancelled job is reported, not retried (``enqueue`` retries
        on purpose). Returns the tuning job's and the measuring job's summaries (empty: none)."""
        tune = self._spec(dialect, workload, target, self.settings.refill_trials, 1)
        measured = found is not None and found.match == "exact" and found.record.source != "predicted"
        specs = [tune]
        if self.settings.refill_measure and not measured:
            specs.insert(0, self._spec(dialect, workload, target, self.settings.refill_measure, 1, "measure"))
        summaries: dict[str, dict[str, Any]] = {}
        wanted = []
        for spec in specs:
            current = self.queue.get(spec.job_id)
            if current is not None and current.state in TERMINAL_STATES:
                if current.state != "done" or current.spec.trials >= spec.trials:
                    summaries[spec.tier] = _job_summary(current.to_dict())
                    continue
            wanted.append(spec)
        if wanted:
            self.store.put_workloads([workload])
            self.queue.enqueue(wanted, bump=True)  # one conditional write: concurrent bumps all count
        for spec in wanted:
            summaries[spec.tier] = _job_summary(self._job(spec.job_id))
        return summaries.get("tune", {}), summaries.get("measure", {})

    def _spec(self, dialect: Dialect, workload: Workload, target: Target, trials: int,
              priority: int, tier: JobTier = "tune") -> JobSpec:
        return job_spec(dialect, workload, target, TuneOptions(trials=trials), priority=priority, tier=tier)

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.queue.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job.to_dict()

    def _workload(self, ref: WorkloadRef) -> tuple[Dialect, Workload]:
        dialect = self._dialect(ref)
        if ref.workload is not None:
            if ref.key is not None and ref.key != ref.workload.key:
                raise InvalidInput(f"key {ref.key!r} and the workload's key {ref.workload.key!r} differ")
            return dialect, dialect.check_workload(Workload(**ref.workload.model_dump()))
        if ref.key is None:
            raise InvalidInput("name a workload: its key, or the whole workload")
        workload = self.store.get_workload(dialect.name, ref.key)
        if workload is None:
            raise NotFound(f"unknown {dialect.name} workload {ref.key!r}: send the whole workload")
        return dialect, workload

    def _workload_or_none(self, ref: WorkloadRef) -> tuple[Dialect, Workload] | None:
        """:meth:`_workload`, None for a key the store does not know (not for a bad reference)."""
        try:
            return self._workload(ref)
        except NotFound:
            if ref.workload is not None:
                raise
            return None

    @staticmethod
    def _dialect(ref: WorkloadRef) -> Dialect:
        """The dialect of the workload a reference names (``dialect`` must be installed either way).

        Raises:
            InvalidInput: a dialect that is not installed.
        """
        named = get_dialect(ref.dialect)
        return get_dialect(ref.workload.dialect) if ref.workload is not None else named

    @staticmethod
    def _target(dialect: Dialect, text: str) -> Target:
        return dialect.parse_target(text.strip())

    @staticmethod
    def _measurable(dialect: Dialect, target: Target) -> bool:
        """Whether the dialect measures and ``target`` is this machine, where candidates can be
        measured."""
        return isinstance(dialect, Measurer) and target == dialect.parse_target("host")

    def _check_measurable(self, dialect: Dialect, target: Target, asked: str) -> None:
        """Raises InvalidInput, naming what ``asked`` for it, unless the dialect measures and
        ``target`` is this machine."""
        require(dialect, Measurer)
        if not self._measurable(dialect, target):
            raise InvalidInput(f"{asked}: this service measures on its own CPU only "
                               f"({dialect.parse_target('host').canonical}), not on {target.canonical}")

    def _check_predictable(self, dialect: Dialect, target: Target) -> None:
        """Raises InvalidInput when the cost model knows nothing of this target's kind."""
        if dialect.name not in self._trained_kinds:
            trained = self.model_metadata.get("targets") or []
            self._trained_kinds[dialect.name] = {dialect.parse_target(t).loose_key for t in trained}
        kinds = self._trained_kinds[dialect.name]
        if kinds and target.loose_key not in kinds:
            raise InvalidInput(f"the cost model {self.model_tag} was trained for {', '.join(sorted(kinds))}, "
                               f"not {target.loose_key}: no prediction for this target")

    def _predictor(self, dialect: Dialect) -> ZeroShotPredictor:
        with self._lock:
            if dialect.name not in self._predictors:
                scorer = CostModelScorer(self.model, self.model_metadata, require(dialect, Proposer),
                                         self.model_tag)
                self._predictors[dialect.name] = ZeroShotPredictor(self.store, scorer, self.settings.predict)
            return self._predictors[dialect.name]


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """The number of seconds in ``environ[name]`` (``default`` when unset); its range is checked
    by :class:`ServiceSettings`.

    Raises:
        InvalidInput: not a number.
    """
    text = environ.get(name)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{name} must be seconds, got {text!r}") from None


def _count(environ: Mapping[str, str], name: str) -> int | None:
    """The non-negative integer in ``environ[name]``, None when unset.

    Raises:
        InvalidInput: anything else.
    """
    text = environ.get(name)
    if text is not None and not text.isdigit():
        raise InvalidInput(f"{name} must be a non-negative integer, got {text!r}")
    return None if text is None else int(text)


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    """The positive integer in ``environ[name]`` (``default`` when unset).

    Raises:
        InvalidInput: anything else.
    """
    text = environ.get(name, str(default))
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"{name} must be a positive integer, got {text!r}")
    return int(text)


def _job_summary(job: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a job an answer carries."""
    return {"job_id": job["job_id"], "state": job["state"], "priority": job["spec"]["priority"],
            "trials": job["spec"]["trials"], "attempts": job["attempts"],
            "tier": job["spec"].get("tier", "tune")}
