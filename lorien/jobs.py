"""Tuning jobs: what to tune (a :class:`JobSpec`), and a job's life in the queue (a :class:`Job`).

One job exists per (dialect, workload, target, build, tier): its id is a content hash of those, so
enqueueing the same work twice finds the job that is there. A job is of one of two tiers: a short
``measure`` job (the cost model's best candidates and a local search around the fastest, measured
on the target: a ``measured`` record within a minute or so) or a ``tune`` job (a full search: a
``tuned`` record). Workers take every measuring job they can run before any tuning job, whatever
the priorities; within a tier, higher priority first, then oldest first. A job moves through::

    waiting --claim--> running --finish--> done
       ^                  |  \\--fail (no attempts left)--> failed
       +--lease expired---+   \\--cancel--> cancelled
       +--fail (retry)----+

A running job is held by one *attempt*: claiming increments ``attempts``, and the attempt number
is the holder's token for heartbeats and for giving the job up. A lease renewed by heartbeats says
how long the holder is trusted; once it has expired any worker may claim the job again (the old
holder is presumed dead), until ``max_attempts`` is reached and the job fails with its reason.
``finish`` is accepted from any attempt while the job is not terminal: the first attempt to finish
wins, a later one learns that the job is done and commits nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from lorien.errors import InvalidInput
from lorien.records import Target, content_hash

JobState = Literal["waiting", "running", "done", "failed", "cancelled"]
JobTier = Literal["measure", "tune"]
#: The tiers in the order workers take them.
JOB_TIERS: tuple[JobTier, ...] = ("measure", "tune")
#: Added to a measuring job's priority where a backend orders jobs by one number (its index), so
#: that measuring jobs come before tuning jobs of any priority below it; the exact order
#: (:func:`claim_order`) is applied to what the index returns.
MEASURE_LEAD = 10**17
JOB_STATES: tuple[JobState, ...] = ("waiting", "running", "done", "failed", "cancelled")
TERMINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})


def check_budget(trials: int, random_samples: int, remeasure: int, neighbour_samples: int = 0) -> None:
    """Raise :class:`InvalidInput` unless the budget measures something: ``trials`` at least 1,
    or 0 with random or neighbour samples; no count negative."""
    if random_samples < 0 or remeasure < 0 or neighbour_samples < 0:
        raise InvalidInput(f"random samples, neighbour samples and re-measurements must not be negative, "
                           f"got {random_samples}, {neighbour_samples} and {remeasure}")
    if trials < (0 if random_samples or neighbour_samples else 1):
        raise InvalidInput(f"trials must be at least 1 (0 only with random or neighbour samples), "
                           f"got {trials}")


def job_id(dialect: str, workload_key: str, target: Target, build: str, tier: JobTier = "tune") -> str:
    """The id of the one job of this tier for this workload, target and compiler build (tuning
    jobs keep the ids they had before there were tiers)."""
    parts = (dialect, workload_key, target.canonical, build) + (() if tier == "tune" else (tier,))
    return content_hash("job", *parts, length=20)


def _tier(value: object) -> JobTier:
    tier = str(value)
    if tier not in JOB_TIERS:
        raise InvalidInput(f"a job's tier is one of {', '.join(JOB_TIERS)}, not {tier!r}")
    return tier


@dataclass(frozen=True, kw_only=True)
class TuningBudget:
    """How hard a workload is tuned, and how each candidate is measured: what a queued job carries
    to whichever worker runs it (:class:`JobSpec`), and what a dialect tunes with
    (:class:`lorien.dialects.TuneOptions`, which adds the worker's own settings). Defined once
    here, so that what a user sets travels with the job.

    Attributes:
        trials: measured schedules at most (a tuning job's search trials, a measuring job's
            candidates measured).
        keep: how many of the best schedules become records.
        seed: random seed of the search; None for a random one.
        build_timeout_s: how long one candidate may take to build.
        run_timeout_s: how long one candidate may take to run.
        repeat: timed repetitions per measured candidate.
        population: candidates a search keeps per generation (TVM: the evolutionary search's
            population); None sizes it to the budget.
        random_samples: schedules drawn at random from the kernel's design space and measured
            beside the search (logged apart, marked ``random``), so that a data set also shows
            bad schedules. With samples, ``trials`` may be 0: samples without a search.
        neighbour_samples: the best schedules of this many tuned workloads nearest the kernel
            (the worker's store lends them, as it lends an instant answer's), adapted to the
            kernel's shapes and measured beside the search (logged apart, marked ``neighbour``):
            the candidates an instant answer chooses among, with their true latencies, so that a
            cost model learns what a re-tiling does. With them, ``trials`` may be 0.
        remeasure: measure the search's this many fastest schedules again, and every schedule
            (search or sample) whose repeats disagree by more than
            :data:`lorien.tuner.sampling.OUTLIER_SPREAD`; the new runs join the old ones, so the
            minimum of a schedule's runs is a label robust to a busy machine.

    Raises:
        InvalidInput: a budget that measures nothing, or a count or time out of range.
    """

    trials: int = 32
    keep: int = 5
    seed: int | None = None
    build_timeout_s: float = 120.0
    run_timeout_s: float = 30.0
    repeat: int = 3
    population: int | None = None
    random_samples: int = 0
    remeasure: int = 0
    neighbour_samples: int = 0

    def __post_init__(self) -> None:
        check_budget(self.trials, self.random_samples, self.remeasure, self.neighbour_samples)
        if self.keep < 1:
            raise InvalidInput(f"keep must be at least 1, got {self.keep}")
        if self.population is not None and self.population < 2:
            raise InvalidInput(f"population must be at least 2, got {self.population}")
        if self.repeat < 1:
            raise InvalidInput(f"repeat must be at least 1, got {self.repeat}")
        for name in ("build_timeout_s", "run_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value < float("inf")):
                raise InvalidInput(f"{name} must be a positive number of seconds, got {value!r}")

    def budget(self) -> dict[str, Any]:
        """The :class:`TuningBudget` fields of this object, to build another kind from."""
        return {f.name: getattr(self, f.name) for f in fields(TuningBudget)}

    @staticmethod
    def budget_from_dict(data: Mapping[str, Any]) -> dict[str, Any]:
        """The budget fields of a stored dict (:meth:`JobSpec.to_dict`): ``trials`` required,
        defaults for the others where absent (jobs queued before a field existed)."""
        seed, population = data.get("seed"), data.get("population")
        return {"trials": int(data["trials"]), "keep": int(data.get("keep", 5)),
                "seed": None if seed is None else int(seed),
                "build_timeout_s": float(data.get("build_timeout_s", 120.0)),
                "run_timeout_s": float(data.get("run_timeout_s", 30.0)),
                "repeat": int(data.get("repeat", 3)),
                "population": None if population is None else int(population),
                "random_samples": int(data.get("random_samples", 0)),
                "remeasure": int(data.get("remeasure", 0)),
                "neighbour_samples": int(data.get("neighbour_samples", 0))}


@dataclass(frozen=True, kw_only=True)
class JobSpec(TuningBudget):
    """What a job tunes, and how hard (its :class:`TuningBudget`, which it carries to the worker).

    Attributes:
        dialect: the dialect that tunes it.
        workload_key: the stored workload's key (its payload is read from the store).
        workload_name: readable name, for listings.
        target: where to measure.
        build: the compiler build the records are for; only a worker of this build claims it.
        priority: higher runs first (within a tier: every measuring job runs before any tuning
            job).
        tier: ``tune`` (a full search, ``tuned`` records) or ``measure`` (candidates measured,
            a ``measured`` record; no random samples or re-measurements).
    """

    dialect: str
    workload_key: str
    workload_name: str
    target: Target
    build: str
    priority: int = 0
    tier: JobTier = "tune"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tier not in JOB_TIERS:
            raise InvalidInput(f"a job's tier is one of {', '.join(JOB_TIERS)}, not {self.tier!r}")
        if self.tier == "measure" and (self.random_samples or self.remeasure or self.neighbour_samples):
            raise InvalidInput("random and neighbour samples and re-measurements belong to tuning jobs")
        for name in ("dialect", "workload_key", "build"):
            if not getattr(self, name):
                raise InvalidInput(f"a job needs a non-empty {name}")

    @property
    def job_id(self) -> str:
        return job_id(self.dialect, self.workload_key, self.target, self.build, self.tier)

    def covers(self, other: JobSpec) -> bool:
        """Whether this job, done, measured at least what ``other`` asks for."""
        return (self.trials >= other.trials and self.random_samples >= other.random_samples
                and self.remeasure >= other.remeasure and self.neighbour_samples >= other.neighbour_samples)

    @property
    def budget_text(self) -> str:
        """What the job measures, in words: ``32 trials``, ``32 trials + 16 random samples``,
        ``8 neighbour samples``."""
        samples = self.random_samples or self.neighbour_samples
        parts = [f"{self.trials} trials"] if self.trials or not samples else []
        parts += [f"{self.random_samples} random samples"] if self.random_samples else []
        parts += [f"{self.neighbour_samples} neighbour samples"] if self.neighbour_samples else []
        return " + ".join(parts)

    @property
    def urgency(self) -> int:
        """The one number a backend's index orders by, highest first: the priority, plus
        :data:`MEASURE_LEAD` for a measuring job."""
        return self.priority + (MEASURE_LEAD if self.tier == "measure" else 0)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = self.target.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        try:
            return cls(dialect=str(data["dialect"]), workload_key=str(data["workload_key"]),
                       workload_name=str(data.get("workload_name", "")),
                       target=Target.from_dict(data["target"]), build=str(data["build"]),
                       priority=int(data.get("priority", 0)), tier=_tier(data.get("tier", "tune")),
                       **TuningBudget.budget_from_dict(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed job spec: {exc!r}") from exc


@dataclass(frozen=True)
class JobResult:
    """What the attempt that finished a job produced."""

    records: int
    measured: int
    failed_measurements: int
    best_seconds: float | None
    log_ref: str | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobResult:
        best = data.get("best_seconds")
        return cls(records=int(data["records"]), measured=int(data["measured"]),
                   failed_measurements=int(data.get("failed_measurements", 0)),
                   best_seconds=None if best is None else float(best), log_ref=data.get("log_ref"),
                   seconds=float(data.get("seconds", 0.0)))


@dataclass(frozen=True)
class Job:
    """A job as the queue holds it.

    Attributes:
        spec: what to tune.
        state: see the module docstring.
        attempts: how many times it was claimed (the current holder's token while running).
        max_attempts: claims allowed before it fails for good.
        worker: who holds (running) or last held it.
        lease_expires: Unix time the holder's lease ends (running jobs).
        error: why the last attempt failed or was given up (kept after a successful retry too).
        batch_job_id: the AWS Batch job of the worker that last claimed it, when it ran in Batch.
        result: what the finishing attempt produced (done jobs).
    """

    spec: JobSpec
    state: JobState
    attempts: int = 0
    max_attempts: int = 3
    worker: str | None = None
    lease_expires: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    error: str | None = None
    batch_job_id: str | None = None
    result: JobResult | None = None
    history: tuple[str, ...] = field(default_factory=tuple)

    @property
    def job_id(self) -> str:
        return self.spec.job_id

    def lease_expired(self, now: float) -> bool:
        """Whether this running job's holder is presumed gone."""
        return self.state == "running" and (self.lease_expires or 0.0) < now

    def with_event(self, event: str) -> Job:
        """This job with one more line of history (the last 20 are kept)."""
        return replace(self, history=(*self.history, event)[-20:])

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "spec": self.spec.to_dict(), "state": self.state,
                "attempts": self.attempts, "max_attempts": self.max_attempts, "worker": self.worker,
                "lease_expires": self.lease_expires, "created_at": self.created_at,
                "updated_at": self.updated_at, "error": self.error, "batch_job_id": self.batch_job_id,
                "result": self.result.to_dict() if self.result else None, "history": list(self.history)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        try:
            state = str(data["state"])
            if state not in JOB_STATES:
                raise ValueError(f"unknown job state {state!r}")
            lease = data.get("lease_expires")
            return cls(spec=JobSpec.from_dict(data["spec"]), state=state,
                       attempts=int(data.get("attempts", 0)), max_attempts=int(data.get("max_attempts", 3)),
                       worker=data.get("worker"), lease_expires=None if lease is None else float(lease),
                       created_at=float(data.get("created_at", 0.0)),
                       updated_at=float(data.get("updated_at", 0.0)), error=data.get("error"),
                       batch_job_id=data.get("batch_job_id"),
                       result=JobResult.from_dict(data["result"]) if data.get("result") else None,
                       history=tuple(str(h) for h in data.get("history", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed job: {exc!r}") from exc


def claim_order(job: Job) -> tuple[int, int, float, str]:
    """Sort key of the order workers take jobs in: measuring jobs first, then by priority
    (highest first), then oldest first, then by id."""
    return (JOB_TIERS.index(job.spec.tier), -job.spec.priority, job.created_at, job.job_id)
