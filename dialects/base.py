"""The dialect interface: what every compiler is to Lorien, and the values that cross it.

:class:`Dialect` is what all dialects share (name, targets, build, checks of outside input); what a
compiler can do beyond that (turn a model into workloads, tune one workload into schedule records
and a full log, measure, propose schedules, build a model with the store's schedules through the
compiler's own hook) are the roles of :mod:`lorien.dialects.roles`. Scheduling many workloads,
retries and storage are the tuner's and the store's business, not the dialect's. The core never
sees compiler objects: workloads and schedules cross this boundary as the strings in
:mod:`lorien.records`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from lorien.errors import InvalidInput
from lorien.jobs import TuningBudget
from lorien.records import ScheduleRecord, Target, Workload, WorkloadUse
from lorien.tuning_log import TuningLog

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TorchModel:
    """A PyTorch module with example inputs; dialects that read PyTorch accept it as a model."""

    module: Any
    example_inputs: tuple[Any, ...]
    name: str = "model"


@dataclass(frozen=True)
class RPCEndpoint:
    """Devices registered with a TVM-style RPC tracker under one key: ``HOST:PORT:KEY``.

    Attributes:
        host: the tracker's address.
        port: the tracker's port.
        key: the device key devices registered under (e.g. ``rasp4b``).
    """

    host: str
    port: int
    key: str

    @classmethod
    def parse(cls, text: str) -> RPCEndpoint:
        """``HOST:PORT:KEY`` as an endpoint.

        Raises:
            InvalidInput: not of that form, or a port that is not a number in 1..65535.
        """
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not all(parts):
            raise InvalidInput(f"expected an RPC tracker as HOST:PORT:KEY, got {text!r}")
        host, port, key = parts
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidInput(f"{text!r}: the tracker port must be a number in 1..65535")
        return cls(host, int(port), key)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}:{self.key}"


@dataclass(frozen=True, kw_only=True)
class TuneOptions(TuningBudget):
    """How hard to tune one workload (the :class:`~lorien.jobs.TuningBudget` a job carries) and
    where and how this worker measures.

    Attributes:
        rpc: measure on the devices of an RPC tracker instead of this machine.
        session_timeout_s: how long one RPC measurement session may take.
        warm_start: guide the search from its first trial with a cost model pre-trained on
            tuning logs (the dialect's own model; TVM: MetaSchedule's XGBoost). False: the
            compiler's default, which for TVM picks at random until 100 measurements.
        search_model: the pre-trained model's file; None for the one trained on the data set
            that ships with Lorien.
    """

    rpc: RPCEndpoint | None = None
    session_timeout_s: float = 60.0
    warm_start: bool = True
    search_model: Path | None = None

    def search_population(self) -> int:
        """The population a search evolves: ``population`` when given, else 16 candidates per
        trial between 64 and 512 (MetaSchedule's default, which searches of 32 trials and more
        keep). A search of a few trials does not pay for evolving 512 candidates through four
        generations: 2 trials of a small conv took 38 s with 512, 17 s with 64."""
        return self.population if self.population is not None else min(512, max(64, 16 * self.trials))


@dataclass(frozen=True)
class TuneOutcome:
    """What tuning one workload produced: the best records (not yet stored) and the full log.

    ``records`` is empty when every measurement failed; the log still holds the failures.
    ``samples`` is the log of the random design-space samples measured beside the search
    (:attr:`TuneOptions.random_samples`), ``neighbours`` the log of the adapted neighbours'
    schedules measured beside it (:attr:`TuneOptions.neighbour_samples`). A job without a search
    has its random samples' log as ``log`` (the neighbour samples' when it draws none) and no
    records (a random draw is not a tuned schedule, nor is another kernel's).
    """

    records: tuple[ScheduleRecord, ...]
    log: TuningLog
    seconds: float
    samples: TuningLog | None = None
    neighbours: TuningLog | None = None

    @property
    def side_logs(self) -> list[TuningLog]:
        """The logs measured beside the search (random, then neighbour samples), when any."""
        return [log for log in (self.samples, self.neighbours) if log is not None]

    @property
    def best(self) -> ScheduleRecord | None:
        return min(self.records, key=lambda r: r.latency.mean) if self.records else None


@dataclass(frozen=True)
class CandidateOptions:
    """How many candidate schedules to propose for a workload, and how.

    Attributes:
        samples: random draws from the design space.
        evolve: also run an evolutionary search guided by the scorer (when one is given). Off by
            default: on networks whose family the cost model never saw, the search finds
            schedules the model overrates, and ranking samples and adapted neighbours alone
            gave faster models in a fraction of the time (``benchmarks/zero_shot.py
            --with-evolution``: BERT-base 547 ms in 9 s against 1389 ms in 54 s, ResNet-18
            210 ms in 28 s against 251 ms in 88 s).
        population: candidates the evolutionary search keeps and returns.
        generations: its rounds of mutation.
        mutants: tries at changing one sampling decision (a tile size, the unrolling, the
            parallel extent, a compute location) of a seed; the valid, new ones are candidates.
            The local search around a kernel's best measured schedules: there the seeds are the
            workload's own schedules.
        seeds_kept: adapt only this many of the seeds given, those the dialect judges to fit this
            workload best (for TVM: loop extents nearest this kernel's); None adapts them all.
        seed: random seed; None for a random one.
    """

    samples: int = 64
    evolve: bool = False
    population: int = 64
    generations: int = 2
    mutants: int = 0
    seeds_kept: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("samples", "population", "generations", "mutants"):
            if getattr(self, name) < 0:
                raise InvalidInput(f"{name} must not be negative, got {getattr(self, name)}")
        if self.seeds_kept is not None and self.seeds_kept < 0:
            raise InvalidInput(f"seeds_kept must not be negative, got {self.seeds_kept}")


@dataclass(frozen=True)
class Candidates:
    """Candidate schedules of one workload with their features (rows of
    :meth:`~lorien.dialects.roles.Featurizer.schedule_features`), and where each came from:
    ``neighbour`` (a seed: a similar workload's schedule adapted, or the workload's own),
    ``mutant`` (a seed with one decision changed), ``evolved`` or ``space`` (a random
    design-space sample)."""

    schedules: list[str]
    features: np.ndarray
    origins: list[str]

    def __len__(self) -> int:
        return len(self.schedules)


@dataclass(frozen=True)
class Lowering:
    """How a model is lowered into kernels and built; part of what a kernel is.

    The same model lowered two ways may give different kernels, and so different workload keys:
    a dialect makes sure a schedule found under one lowering is never served for a kernel of the
    other unless the two kernels are the same.

    Attributes:
        prepack: weights are packed into the layout each kernel's schedule wants once, at build
            time, instead of being read in their original layout on every call.
    """

    prepack: bool = False

    @property
    def name(self) -> str:
        """``prepack`` or ``plain``: how output and records name it."""
        return "prepack" if self.prepack else "plain"


@dataclass(frozen=True)
class LoweringChange:
    """A model's kernels under a lowering, and what came before them, to move a store forward.

    Attributes:
        kernels: each kernel of the model under the lowering asked for, with the keys of other
            kernels whose schedules give exactly the same code for it (their records may be
            re-keyed to it); kernels that did not change keep their key and need nothing.
        retired: keys of the kernels an earlier lowering gave this model that no lowering of it
            gives now (their records cannot move: the kernels they schedule are gone).
    """

    kernels: list[tuple[WorkloadUse, tuple[str, ...]]]
    retired: list[str]


@dataclass
class CompiledModel:
    """A model built for a target, with how many of its kernels took a schedule from the store.

    Attributes:
        executable: the compiler's runnable artefact (opaque outside the dialect).
        kernels: how many tunable kernels the model has.
        kernels_scheduled: how many of them got a schedule from the store.
        missing: names of the kernels that had no schedule.
        inputs: the inputs a run uses (the model's example inputs).
        lowering: how the model was lowered.
        scheduled_keys: workload keys of the kernels that got a schedule from the store.
        unusable: kernels whose stored schedule was found and not used (built unscheduled, and
            among ``missing``), each kernel's workload key with why (one line): a trace that no
            longer fits, or one the dialect knows computes the wrong thing.
    """

    executable: Any
    kernels: int
    kernels_scheduled: int
    missing: list[str] = field(default_factory=list)
    inputs: Any = None
    lowering: Lowering = field(default_factory=Lowering)
    scheduled_keys: list[str] = field(default_factory=list)
    unusable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputCheck:
    """What checking one stored schedule's outputs found.

    Attributes:
        verdict: ``right`` (its outputs are the unscheduled kernel's), ``wrong`` (they are not:
            ``detail`` says where), ``skipped`` (not checked: ``detail`` says why, e.g. drawn
            from the kernel's own design space, a target this machine cannot run, or a build
            that failed here).
        detail: one line.
    """

    verdict: Literal["right", "wrong", "skipped"]
    detail: str = ""


@dataclass(frozen=True)
class NativeCostModel:
    """The compiler's own cost model, to compare Lorien's models with on the same logs.

    Attributes:
        name: how tables and plots label it, e.g. ``metaschedule-xgb``.
        featurize: ``featurize(workload, target, schedules) -> (rows, ok)``, like
            :meth:`~lorien.dialects.roles.Featurizer.schedule_features` but in the model's own
            input form (rows may be an object array of variable-size arrays).
        make: ``make(threads=None)``, a fresh, unfitted estimator (``fit(X, y, group)`` /
            ``predict(X)``) over those rows that uses at most ``threads`` CPU threads (None: its
            own default).
    """

    name: str
    featurize: Callable[[Workload, Target, Sequence[str]], tuple[np.ndarray, np.ndarray]]
    make: Callable[..., Any]


class Dialect(abc.ABC):
    """One compiler, as every part of Lorien sees it: its name, its targets, its build, and the
    checks of workloads and schedules that arrive from outside (the service, imported databases).

    What else a compiler can do (read models, tune, measure, propose schedules, build models, its
    own database) are roles, in :mod:`lorien.dialects.roles`: a dialect inherits those it plays,
    and callers ask for a role by type (:func:`lorien.dialects.roles.require`).

    Instances are created once per process by :func:`lorien.dialects.get_dialect` and may pay
    one-time import costs lazily; constructing one must be cheap. Methods are safe to call from one
    thread at a time unless a subclass documents more.

    Errors: bad input (a malformed target, an unknown model form) raises
    :class:`lorien.errors.InvalidInput`; a tuning run with no valid measurement raises
    :class:`lorien.errors.TuningError`.
    """

    #: The name records and workloads carry, and the entry-point name.
    name: ClassVar[str]

    @abc.abstractmethod
    def parse_target(self, text: str) -> Target:
        """Canonicalise a user's target (``host``, a kind name, or the compiler's own form)."""

    @abc.abstractmethod
    def build_id(self) -> str:
        """The compiler build schedules are measured with, e.g. ``tvm-0.27.0.post1+llvm-22``."""

    def equivalent_keys(self, workload: Workload) -> tuple[str, ...]:
        """Keys of other workloads whose schedules, applied to this one, give exactly its code, so
        their records serve it too (:func:`lorien.lookup.find_schedule`). The default knows none.
        ``workload`` must have been checked (:meth:`check_workload`) or extracted here."""
        return ()

    def check_workload(self, workload: Workload) -> Workload:
        """A workload received from outside (the service), checked: its payload readable and its
        key the one the payload hashes to; returned with what can be recomputed (FLOPs) recomputed.
        The default accepts any workload of this dialect.

        Raises:
            InvalidInput: another dialect's workload, an unreadable payload, or a key that does
                not match it.
        """
        if workload.dialect != self.name:
            raise InvalidInput(f"workload {workload.key} is of dialect {workload.dialect!r}, "
                               f"not {self.name!r}")
        return workload

    def schedule_problem(self, workload: Workload, schedule: str) -> str | None:
        """Why a schedule received from outside (a commit, an imported database) cannot be stored
        for ``workload``, in one line, or None when it applies. It must not raise, and a schedule
        that would crash the compiler must come back as a reason, not take the caller down. The
        default accepts any schedule.
        """
        return None
