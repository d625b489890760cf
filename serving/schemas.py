"""The service's request and response bodies: plain JSON, validated by pydantic, never pickled.

Sizes are bounded here (string lengths, list lengths) and the whole body by
:class:`lorien.serving.limits.BodySizeLimit`, so a request cannot make the service hold more than a
few megabytes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A workload's serialised kernel, at most (TVM payloads of large kernels are ~100 KB).
MAX_PAYLOAD_CHARS = 2_000_000
#: Workloads in one batch request, at most.
MAX_BATCH = 512
#: The largest time budget a ``/schedules`` request may carry: the service holds the request
#: that long, and its request timeout is 600 s.
MAX_BUDGET_S = 540.0
KEY_PATTERN = r"^[0-9A-Za-z_.-]{1,64}$"
TargetText = Field(min_length=1, max_length=4000,
                   description='the target: "host" (the service\'s CPU), a kind such as "llvm", or the '
                               "dialect's JSON target dict as text")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkloadBody(Strict):
    """A workload as :meth:`lorien.records.Workload.to_dict` writes it."""

    dialect: str = Field(min_length=1, max_length=64)
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(default="", max_length=4000)
    flops: float = Field(default=0.0, ge=0, le=1e21)
    payload: str = Field(min_length=1, max_length=MAX_PAYLOAD_CHARS)


class WorkloadRef(Strict):
    """Which workload: ``key`` of one the service knows, or the whole ``workload`` (needed when it
    may be new; its key is checked against its payload)."""

    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    workload: WorkloadBody | None = None
    dialect: str = Field(default="tvm", min_length=1, max_length=64)


class Answer(BaseModel):
    """The schedule of one workload for a target.

    ``status``: ``tuned`` (found by a search that measured), ``measured`` (the cost model's best few
    measured on the target, the fastest kept), ``predicted`` (the cost model's choice, unmeasured:
    its latency is an estimate), ``missing`` (no record and nothing predicted; ``detail`` says why),
    or ``unknown`` (a ``/schedules`` request with ``unknown: "answer"`` named by key a workload the
    service does not have: send it whole; nothing was done for it). ``match``: ``exact`` target or
    ``loose`` (another target of the same kind). ``record`` is
    :meth:`lorien.records.ScheduleRecord.to_dict`, empty when missing. ``job`` is the refill tuning
    job (id, state, priority, trials, attempts, tier), empty when none was needed; ``measure_job``
    the measuring job queued beside it while no schedule was measured for exactly this target
    (workers take it first: a measured answer within a minute or so), empty when none.
    """

    key: str
    status: Literal["tuned", "measured", "predicted", "missing", "unknown"]
    match: Literal["exact", "loose", ""] = ""
    record: dict[str, Any] = Field(default_factory=dict)
    job: dict[str, Any] = Field(default_factory=dict)
    measure_job: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0
    detail: str = ""


class BatchAnswer(BaseModel):
    """Answers for many workloads, in the order asked, with counts by status. ``delivery``, for a
    request with a budget: the budget, the seconds spent (all, and on the instant answers), the
    kernels, how many were measured and how many candidates."""

    answers: list[Answer]
    tuned: int
    measured: int
    predicted: int
    missing: int
    unknown: int = 0
    seconds: float
    delivery: dict[str, Any] = Field(default_factory=dict)


class PredictionAnswer(BaseModel):
    """The cost model's choice for a workload, without looking in or writing to the store."""

    key: str
    record: dict[str, Any]
    score: float
    measured: bool
    origin: str
    candidates: dict[str, int]
    neighbours: list[str]
    seconds: float
    #: seen to compile on the service's machine (measured, or checked: ``PredictOptions.build_check``)
    compiles: bool = False
    #: higher-ranked candidates passed over because they did not compile in time
    passed_over: int = 0


class JobAnswer(BaseModel):
    """A tuning job: :meth:`lorien.jobs.Job.to_dict` plus, on enqueue, what the queue did."""

    job: dict[str, Any]
    enqueued: str = ""


class CommitAnswer(BaseModel):
    """What a commit stored."""

    workloads: int
    kept: int
    dropped: int


class ModelAnswer(BaseModel):
    """The cost model in use: its tag and the metadata it was registered with."""

    tag: str
    metadata: dict[str, Any]


class HealthAnswer(BaseModel):
    """Whether the store and the queue answer now; the queue's job counts and the store's record
    groups (workload x target x build x source), sampled (``counts_age_s`` old; -1: not counted
    yet), and the cost model in use."""

    ok: bool
    store: str
    queue: dict[str, int]
    model: str
    record_groups: int
    counts_age_s: float = -1.0
    detail: str = ""
