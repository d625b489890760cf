"""Lorien's compiler-neutral data model: workloads, targets, latencies and schedule records.

Every value here is an immutable dataclass that serialises to plain JSON (``to_dict`` /
``from_dict``), so the same record can live in SQLite, DynamoDB, a log line or an HTTP body. Nothing
here knows a compiler: a dialect fills the ``payload`` and ``schedule`` strings with its own
serialised forms and is the only code that reads them back.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeAlias

from lorien.errors import InvalidInput

RecordSource = Literal["tuned", "measured", "predicted"]
#: Where a record's schedule and latency come from, most trusted first: ``tuned`` (a search that
#: measured on the target), ``measured`` (a cost model's few best measured on the target: its
#: latency is a measurement), ``predicted`` (the cost model's choice, unmeasured: its latency is an
#: estimate). Records of different sources are never ranked against each other.
RECORD_SOURCES: tuple[RecordSource, ...] = ("tuned", "measured", "predicted")


def content_hash(*parts: str, length: int = 16) -> str:
    """A short, stable hex digest of ``parts`` (sha256), used for content-addressed ids."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:length]


@dataclass(frozen=True)
class Workload:
    """One tunable kernel, in one dialect.

    Attributes:
        dialect: name of the dialect that produced it (``"tvm"``).
        key: canonical, content-based key, stable across processes and frontends.
        name: human-readable op and shapes, e.g. ``fused_conv2d_add_relu[1x64x56x56,64x64x3x3]``.
        flops: floating point operations of one execution (0 when unknown).
        payload: the dialect's serialised form of the kernel, enough to tune it again anywhere.
    """

    dialect: str
    key: str
    name: str
    flops: float
    payload: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workload:
        return cls(
            dialect=str(data["dialect"]),
            key=str(data["key"]),
            name=str(data["name"]),
            flops=float(data["flops"]),
            payload=str(data["payload"]),
        )


@dataclass(frozen=True)
class WorkloadSummary:
    """A stored workload without its payload: what similarity search reads.

    Attributes:
        dialect, key, name, flops: as :class:`Workload`'s.
        stored_at: when the store first stored it (seconds since the epoch, by the storing
            machine's clock; 0 when the store does not say).
    """

    dialect: str
    key: str
    name: str
    flops: float
    stored_at: float = 0.0


@dataclass(frozen=True)
class WorkloadUse:
    """A workload as it occurs in one model: how many times the model runs it (its weight)."""

    workload: Workload
    weight: int


@dataclass(frozen=True)
class Target:
    """A compilation target in canonical form.

    Attributes:
        canonical: the dialect's canonical target text (for TVM: its JSON dict with sorted keys and
            the host CPU filled in); two targets are the same exactly when these strings are equal.
        loose_key: a coarse class such as ``llvm_cpu`` for "any CPU of this kind" look-ups.
    """

    canonical: str
    loose_key: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        return cls(canonical=str(data["canonical"]), loose_key=str(data["loose_key"]))


@dataclass(frozen=True)
class Latency:
    """Measured run time of one schedule, in seconds, over ``len(runs)`` repetitions."""

    runs: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.runs:
            raise InvalidInput("a latency needs at least one run")
        if any(not math.isfinite(r) or r <= 0 for r in self.runs):
            raise InvalidInput(f"latency runs must be finite and positive, got {list(self.runs)}")

    @property
    def mean(self) -> float:
        return statistics.fmean(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.runs) if len(self.runs) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"runs": list(self.runs), "mean": self.mean, "median": self.median,
                "min": self.min, "std": self.std}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Latency:
        return cls(runs=tuple(float(r) for r in data["runs"]))


@dataclass(frozen=True)
class MeasureFailure:
    """Why a schedule was not timed: it did not apply to the kernel, did not build, or did not
    run (the compiler's message, shortened). What measuring gives for it instead of a
    :class:`Latency`."""

    reason: str


#: What measuring one schedule gives: its latency, or why there is none.
Measured: TypeAlias = Latency | MeasureFailure


@dataclass(frozen=True)
class ScheduleRecord:
    """One schedule of one workload for one target, with how fast it ran.

    Records are kept best-N per (workload key, target, build, source): see
    :class:`lorien.store.ScheduleStore`.

    Attributes:
        dialect: the dialect that can apply ``schedule``.
        workload_key: the :attr:`Workload.key` it schedules.
        target: where it was measured.
        build: the compiler build it was measured with (e.g. ``tvm-0.27.0.post1+llvm-22``);
            records of different builds are kept apart.
        schedule: the dialect's serialised schedule (for TVM: the MetaSchedule trace JSON).
        latency: the measured (``tuned``, ``measured``) or estimated (``predicted``) latency.
        source: one of :data:`RECORD_SOURCES`.
        created_at: Unix time the record was made.
        log_ref: reference of the full tuning log in the log store, when there is one.
    """

    dialect: str
    workload_key: str
    target: Target
    build: str
    schedule: str
    latency: Latency
    source: RecordSource = "tuned"
    created_at: float = field(default_factory=time.time)
    log_ref: str | None = None

    def __post_init__(self) -> None:
        if self.source not in RECORD_SOURCES:
            raise InvalidInput(f"record source must be one of {RECORD_SOURCES}, got {self.source!r}")
        for name in ("dialect", "workload_key", "build", "schedule"):
            if not getattr(self, name):
                raise InvalidInput(f"schedule record needs a non-empty {name}")

    @functools.cached_property
    def record_id(self) -> str:
        """Content id: the same schedule of the same workload, target, build and source (hashed
        once per record: the record is immutable)."""
        return content_hash(self.dialect, self.workload_key, self.target.canonical, self.build,
                            self.source, self.schedule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "workload_key": self.workload_key,
            "target": self.target.to_dict(),
            "build": self.build,
            "schedule": self.schedule,
            "latency": self.latency.to_dict(),
            "source": self.source,
            "created_at": self.created_at,
            "log_ref": self.log_ref,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScheduleRecord:
        try:
            return cls(
                dialect=str(data["dialect"]),
                workload_key=str(data["workload_key"]),
                target=Target.from_dict(data["target"]),
                build=str(data["build"]),
                schedule=str(data["schedule"]),
                latency=Latency.from_dict(data["latency"]),
                source=data.get("source", "tuned"),
                created_at=float(data.get("created_at", time.time())),
                log_ref=data.get("log_ref"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed schedule record: {exc!r}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def best_per_group(records: Sequence[ScheduleRecord], keep: int) -> list[ScheduleRecord]:
    """The ``keep`` fastest distinct schedules of every (workload, target, build, source) group.

    Duplicates (same :attr:`ScheduleRecord.record_id`) collapse to the faster measurement. This is the
    reference semantics every :class:`~lorien.store.ScheduleStore` backend must reproduce.
    """
    by_id: dict[str, ScheduleRecord] = {}
    for rec in records:
        seen = by_id.get(rec.record_id)
        if seen is None or rec.latency.mean < seen.latency.mean:
            by_id[rec.record_id] = rec
    groups: dict[tuple[str, str, str, str, str], list[ScheduleRecord]] = {}
    for rec in by_id.values():
        group = (rec.dialect, rec.workload_key, rec.target.canonical, rec.build, rec.source)
        groups.setdefault(group, []).append(rec)
    kept: list[ScheduleRecord] = []
    for group_records in groups.values():
        group_records.sort(key=lambda r: (r.latency.mean, r.record_id))
        kept.extend(group_records[:keep])
    return kept
