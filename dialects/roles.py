"""What a compiler can do for Lorien, one role at a time.

:class:`~lorien.dialects.base.Dialect` is what every dialect is: a name, targets, a build, and the
checks of what arrives from outside. A compiler implements the roles below that it supports, each
an abstract class with no optional method, so a dialect never raises "not supported" for a method
it declares: what it cannot do, it does not inherit. A caller that needs a role asks for it by type
(:func:`require`, or :func:`lorien.dialects.get_dialect` with a role), and gets an
:class:`~lorien.errors.InvalidInput` naming what is missing before any work starts.

====================  ==========================================================  ======================
role                  methods                                                     used by
====================  ==========================================================  ======================
:class:`Frontend`     ``load_model``, ``extract``, ``lowering_change``,           ``extract``,
                      ``workload_key``                                            ``campaign``, ``migrate``
:class:`Tuner`        ``tune``, ``tune_options_problem``,                         workers, ``tune``
                      ``measurement_problem``
:class:`Measurer`     ``measure``, ``measure_many``, ``check_builds``,            predictor, budgeted
                      ``measurement_problem``                                     predictor, samples
:class:`Featurizer`   ``schedule_features``, ``feature_version``,                 ``train``, cost models
                      ``native_cost_model``
:class:`Proposer`     ``candidates`` (a :class:`Featurizer` too)                  predictor, samples
:class:`Builder`      ``apply``, ``compiler_hook``, ``compile``, ``time``,        ``compile``, benchmarks
                      ``outputs``, ``export`` (a :class:`Frontend` too)
:class:`NativeDB`     ``import_native_database``, ``export_native_database``      ``db import/export``
:class:`OutputChecker` ``check_outputs``                                          ``db check``
====================  ==========================================================  ======================

:class:`Tuner` and :class:`Measurer` share :class:`Measuring` (``measurement_problem``), what a
worker asks before and while it runs a job of either kind. The TVM dialect plays every role; the
``instant`` test dialect only :class:`Tuner`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from lorien.dialects.base import (
    CandidateOptions,
    Candidates,
    CompiledModel,
    Dialect,
    Lowering,
    LoweringChange,
    NativeCostModel,
    OutputCheck,
    TuneOptions,
    TuneOutcome,
)
from lorien.errors import InvalidInput
from lorien.records import Latency, Measured, ScheduleRecord, Target, Workload, WorkloadUse
from lorien.store.base import ScheduleStore

if TYPE_CHECKING:
    import numpy as np

R = TypeVar("R", bound=Dialect)


class Frontend(Dialect):
    """Reads models and finds their kernels (the workloads to tune)."""

    #: What callers read a frontend's absence as.
    capability: ClassVar[str] = "read models"
    #: The lowering used when a caller names none.
    default_lowering: ClassVar[Lowering] = Lowering()

    @abc.abstractmethod
    def load_model(self, model: object) -> object:
        """Turn a user's model (a :class:`~lorien.dialects.base.TorchModel` or the compiler's own
        IR) into the dialect's model form, the input of :meth:`extract` (and
        :meth:`Builder.compile`).

        Raises:
            InvalidInput: a model form the dialect does not read.
        """

    @abc.abstractmethod
    def extract(self, model: object, target: Target, lowering: Lowering | None = None) -> list[WorkloadUse]:
        """The tunable workloads of a loaded model for a target, as compilation with the same
        ``lowering`` (the dialect's default when None) would see them."""

    def lowering_change(self, model: object, target: Target,
                        lowering: Lowering | None = None) -> LoweringChange:
        """The model's kernels under ``lowering`` and the earlier kernels they replace. The
        default knows no earlier lowering."""
        return LoweringChange([(use, ()) for use in self.extract(model, target, lowering)], [])

    @abc.abstractmethod
    def workload_key(self, kernel: object) -> str:
        """The content key of one of the compiler's kernels, equal to the :attr:`Workload.key`
        :meth:`extract` gives the same kernel, whichever frontend or process produced it."""


class Measuring(Dialect):
    """What the roles that measure (:class:`Tuner`, :class:`Measurer`) share: whether measuring
    can proceed now."""

    capability: ClassVar[str] = "measure"

    def measurement_problem(self, target: Target, options: TuneOptions) -> str | None:
        """Why measuring for ``target`` with ``options`` cannot proceed right now, in one line
        (the RPC tracker is unreachable, no device is registered under the key), or None when it
        can. Workers ask before a job and, as a watchdog, while it runs; it must answer within a
        few seconds and must not raise. The default (measuring on this machine) is always None.
        """
        return None


class Tuner(Measuring):
    """Tunes one workload: a search under a measurement budget."""

    capability: ClassVar[str] = "tune workloads"

    @abc.abstractmethod
    def tune(
        self,
        workload: Workload,
        target: Target,
        options: TuneOptions,
        on_trial: Callable[[int, int], None] | None = None,
    ) -> TuneOutcome:
        """Tune one workload with a budget of ``options.trials`` measurements, on this machine or
        ``options.rpc``'s devices.

        Args:
            on_trial: called as ``on_trial(done, total)`` while measuring, for progress bars.

        Raises:
            TuningError: no measurement succeeded.
        """

    def tune_options_problem(self, options: TuneOptions) -> str | None:
        """Why this dialect cannot tune with ``options`` at all (TVM: a ``search_model`` file that
        is not a search model), in one line, or None when it can. Commands ask when they start,
        before anything is queued, so a bad option is refused once rather than failing every job;
        it must not raise. The default accepts every option."""
        return None


class Measurer(Measuring):
    """Measures given schedules of a workload."""

    capability: ClassVar[str] = "measure given schedules"

    @abc.abstractmethod
    def measure(self, workload: Workload, target: Target, schedules: Sequence[str],
                options: TuneOptions) -> list[Measured]:
        """Measure given schedules of ``workload`` (on this machine, or the RPC devices of
        ``options.rpc``): a :class:`Latency` each, or a :class:`MeasureFailure` saying why not
        (did not apply, build or run). Measuring no schedule returns at once, and a dialect that
        keeps measuring processes may start them then, in the background."""

    def measure_many(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     options: TuneOptions) -> list[list[Measured]]:
        """:meth:`measure` for the schedules of several workloads at once, a list of latencies per
        workload in order. A dialect that keeps measuring processes builds them all together on
        every core and runs them one at a time (the TVM dialect); the default measures workload
        after workload."""
        return [self.measure(workload, target, schedules, options) for workload, schedules in batches]

    def check_builds(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     timeout_s: float) -> list[list[str | None]]:
        """Whether each schedule compiles for ``target`` on this machine within ``timeout_s``
        seconds, as a compiler building a model with it will have to: None where it does, else
        why not (it does not apply to the kernel, does not build, or builds for longer). A list
        per workload, in order; nothing runs on ``target``'s device, so any target this
        machine's compiler knows can be checked. The default measures them here (a measurement
        builds first), so a schedule that builds but does not run fails too; a dialect that can
        compile without running (the TVM dialect) only compiles."""
        options = TuneOptions(trials=1, build_timeout_s=timeout_s)
        return [[None if isinstance(result, Latency) else result.reason for result in results]
                for results in self.measure_many(target, batches, options)]


class Featurizer(Dialect):
    """Turns schedules into fixed-length features for cost models."""

    capability: ClassVar[str] = "describe schedules as features"
    #: Names the feature recipe; cost models record it and refuse features of another version.
    feature_version: ClassVar[str] = ""

    @abc.abstractmethod
    def schedule_features(
        self, workload: Workload, target: Target, schedules: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fixed-length features of schedules of one workload.

        Returns:
            ``(features, ok)``: one row per schedule, and a mask of those that could be read.
        """

    def native_cost_model(self) -> NativeCostModel | None:
        """The compiler's own cost model as a baseline for Lorien's, or None if it has none."""
        return None


class Proposer(Featurizer):
    """Proposes schedules of a workload without measuring them."""

    capability: ClassVar[str] = "propose schedules"

    @abc.abstractmethod
    def candidates(
        self,
        workload: Workload,
        target: Target,
        seeds: Sequence[str],
        scorer: Callable[[np.ndarray], np.ndarray] | None,
        options: CandidateOptions,
    ) -> Candidates:
        """Design-space samples, ``seeds`` (best schedules of similar workloads, or of this one)
        adapted to ``workload``, mutants of the seeds (``options.mutants``), and schedules evolved
        under ``scorer`` (features in, higher-is-faster scores out), with their features.

        Raises:
            TuningError: the compiler cannot schedule the kernel at all.
        """


class Builder(Frontend):
    """Builds, runs and exports models with the store's schedules."""

    capability: ClassVar[str] = "build models"

    @abc.abstractmethod
    def apply(self, workload: Workload, record: ScheduleRecord) -> object:
        """The workload scheduled by a record (the compiler's scheduled kernel)."""

    @abc.abstractmethod
    def compiler_hook(self, store: ScheduleStore, target: Target,
                      lowering: Lowering | None = None) -> object:
        """The compiler's own schedule-lookup object, answering from ``store`` for the kernels of
        a build with ``lowering`` (the dialect's default when None), and only for those."""

    @abc.abstractmethod
    def compile(
        self, model: object, target: Target, store: ScheduleStore | None,
        lowering: Lowering | None = None,
    ) -> CompiledModel:
        """Build a loaded model with ``lowering`` (the dialect's default when None), with the
        store's schedules when ``store`` is given."""

    @abc.abstractmethod
    def time(self, compiled: CompiledModel, repeat: int = 5) -> Latency:
        """Run a compiled model ``repeat`` times on this machine and return its latency."""

    @abc.abstractmethod
    def outputs(self, compiled: CompiledModel) -> list[np.ndarray]:
        """The outputs of one run of a compiled model on its inputs, flattened in order."""

    @abc.abstractmethod
    def export(self, compiled: CompiledModel, path: Path) -> list[Path]:
        """Write a compiled model as a library a user can load and run; returns the files written.

        Raises:
            InvalidInput: ``path`` cannot be written.
        """


class NativeDB(Dialect):
    """Reads and writes the compiler's own tuning database."""

    capability: ClassVar[str] = "read or write its compiler's tuning database"

    @abc.abstractmethod
    def import_native_database(
        self, path: Path, build: str
    ) -> tuple[list[Workload], list[ScheduleRecord]]:
        """Read the compiler's own tuning database folder, labelling its records with ``build``;
        records the dialect knows compute the wrong thing are left out (as are failed ones).

        Raises:
            InvalidInput: not such a folder, or unreadable.
        """

    @abc.abstractmethod
    def export_native_database(
        self, path: Path, workloads: list[Workload], records: list[ScheduleRecord]
    ) -> int:
        """Write records in the compiler's own database format, but those the dialect knows
        compute the wrong thing; returns how many were written."""


class OutputChecker(Dialect):
    """Checks stored schedules' outputs on this machine, each against its kernel unscheduled."""

    capability: ClassVar[str] = "check schedules' outputs"

    @abc.abstractmethod
    def check_outputs(self, workload: Workload, records: Sequence[ScheduleRecord],
                      every: bool = False) -> list[OutputCheck]:
        """What each of ``workload``'s ``records`` computes, one :class:`OutputCheck` each in
        order. Only the schedules the dialect suspects are built and run unless ``every``: those
        not drawn from the kernel's own design space (cheap to tell; about a second each to
        check); one the dialect knows wrong without running it (for TVM, a weight layout
        rewrite that folds weights) is ``wrong`` either way. Never raises for a schedule: one
        that cannot be built or run here is ``skipped`` with the reason (it was measured on its
        own target; this machine may lack what it needs)."""


def require(dialect: Dialect, role: type[R]) -> R:
    """``dialect`` as ``role``, checked.

    Raises:
        InvalidInput: the dialect does not play the role ("the instant dialect cannot build
            models"), before any work starts.
    """
    if isinstance(dialect, role):
        return dialect
    what = getattr(role, "capability", role.__name__)
    raise InvalidInput(f"the {dialect.name} dialect cannot {what}")
