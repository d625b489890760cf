"""Tuning logs as a table a cost model can learn from.

One row per measured schedule: the dialect's schedule features, workload descriptors (op kind,
FLOPs, argument sizes), and the label ``score = best latency of the workload / latency`` in (0, 1]
(0 for a failed measurement, which stays in the table, flagged). Normalising per workload makes
workloads of very different cost comparable, as in TenSet (Zheng et al., 2021).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from lorien.datasets.feature_cache import FeatureCache
from lorien.dialects import Featurizer
from lorien.errors import InvalidInput
from lorien.records import Target, Workload, WorkloadSummary
from lorien.tuning_log import TuningLog, distinct_measurements, label_latency, relative_scores

#: Op kinds recognised in workload names, in the order of their one-hot columns.
OP_KINDS = ("conv2d", "matmul", "dense", "batch_norm", "layer_norm", "softmax", "pool", "mean",
            "add", "relu", "gelu", "concatenate", "transpose", "reshape")
DESCRIPTOR_NAMES = (*(f"op_{kind}" for kind in OP_KINDS), "op_fused_count", "log2_flops",
                    "n_args", "log2_output_elements", "log2_input_elements", "log2_largest_input")
#: ``featurize(workload, target, schedules) -> (rows, ok)``, see :func:`build_table`.
Featurize = Callable[[Workload, Target, Sequence[str]], tuple[np.ndarray, np.ndarray]]
_ARG = re.compile(r"([0-9x]+|scalar):(\w+)")
#: A log of a workload on a target that starts more than this long after the group's earlier logs
#: finished was timed in another sitting (another session, perhaps another machine of the same CPU
#: model, under other load). In the shipped logs the gaps between one workload's logs are either
#: under 2 minutes (a campaign's search, random and neighbour logs in a row) or over 30 minutes
#: (hours to days: a kernel searched again in a later session), never between.
SITTING_GAP_SECONDS = 30 * 60


def workload_descriptors(workload: Workload | WorkloadSummary) -> np.ndarray:
    """Compiler-neutral numbers that describe a workload, from its name and FLOPs (a summary
    without its payload is enough)."""
    op, _, args_text = workload.name.partition("(")
    onehot = [1.0 if kind in op else 0.0 for kind in OP_KINDS]
    sizes = [math.prod(int(d) for d in shape.split("x")) if shape != "scalar" else 1
             for shape, _ in _ARG.findall(args_text)]
    inputs, output = (sizes[:-1], sizes[-1]) if sizes else ([], 1)
    return np.array([
        *onehot,
        float(op.count("_") - op.startswith("fused_")),
        math.log2(workload.flops + 1),
        float(len(sizes)),
        math.log2(output + 1),
        math.log2(sum(inputs) + 1),
        math.log2(max(inputs, default=0) + 1),
    ], dtype=np.float32)


#: What :func:`kernel_kind` tells apart.
KERNEL_KINDS = ("depthwise conv", "grouped conv", "1x1 conv", "conv", "matmul", "other")


def _shapes(workload: Workload | WorkloadSummary) -> tuple[str, list[list[int]]]:
    """The op part of a workload's name and its arguments' shapes (a scalar as ``[]``; a name's
    stray ``x`` without digits on one side, as an outside name may hold, is no dimension)."""
    op, _, args_text = workload.name.partition("(")
    return op, [[] if shape == "scalar" else [int(d) for d in shape.split("x") if d]
                for shape, _ in _ARG.findall(args_text)]


def kernel_kind(workload: Workload | WorkloadSummary) -> str:
    """The kind of kernel a workload is (one of :data:`KERNEL_KINDS`), from its name: a 2-D
    convolution by its weight's shape (its first two arguments read as NCHW data and OIHW weight:
    one input channel a group is depthwise, fewer than the data's a grouped convolution, a 1x1
    window a pointwise one), any other convolution ``conv``, matrix products ``matmul``."""
    op, shapes = _shapes(workload)
    four_d = len(shapes) >= 2 and len(shapes[0]) == len(shapes[1]) == 4
    if "conv2d" in op and "transpose" not in op and four_d:
        channels, per_group = shapes[0][1], shapes[1][1]
        if per_group == 1 and channels > 1:
            return "depthwise conv"
        if per_group < channels:
            return "grouped conv"
        return "1x1 conv" if shapes[1][2:] == [1, 1] else "conv"
    if "conv" in op:
        return "conv"
    return "matmul" if "matmul" in op or "dense" in op else "other"


#: :func:`conv_geometry`'s columns.
CONV_GEOMETRY_NAMES = ("log2_in_channels", "log2_out_channels", "log2_group_channels", "depthwise",
                       "kernel_h", "kernel_w", "log2_in_h", "log2_in_w", "log2_out_h", "log2_out_w", "stride")


def conv_geometry(workload: Workload | WorkloadSummary) -> np.ndarray:
    """:data:`CONV_GEOMETRY_NAMES` of a 2-D convolution, from its name (its first two arguments
    read as NCHW data and OIHW weight, as :func:`kernel_kind` reads them, its last as the NCHW
    output, unless that is larger than the data: then the convolution's result was broadcast into
    it, as a squeeze-and-excitation gate's into its block, and kept the data's extents); zeros for
    any other kernel."""
    out = np.zeros(len(CONV_GEOMETRY_NAMES), dtype=np.float32)
    op, shapes = _shapes(workload)
    if ("conv2d" not in op or "transpose" in op or len(shapes) < 3
            or not all(len(shape) == 4 for shape in (shapes[0], shapes[1], shapes[-1]))
            or min(shapes[0] + shapes[1] + shapes[-1]) <= 0):
        return out
    (_, channels, height, width), (filters, per_group, kernel_h, kernel_w) = shapes[0], shapes[1]
    out_h, out_w = shapes[-1][2:] if shapes[-1][2] <= height else (height, width)
    out[:] = (math.log2(channels), math.log2(filters), math.log2(per_group), float(per_group == 1 < channels),
              kernel_h, kernel_w, math.log2(height), math.log2(width), math.log2(out_h), math.log2(out_w),
              round(height / out_h))
    return out


@dataclass
class LogTable:
    """Rows of measured schedules (one per distinct schedule of a workload on a target, see
    :func:`build_table`); parallel arrays, one entry per row."""

    features: np.ndarray            # (rows, dialect features + descriptors), or featurize's rows
    score: np.ndarray               # best latency of the workload / latency; 0 when failed
    latency: np.ndarray             # seconds; inf when failed
    failed: np.ndarray              # bool
    workload_keys: np.ndarray       # str
    targets: np.ndarray             # str: each row's target (canonical), the CPU it was measured on
    workloads: dict[str, Workload] = field(default_factory=dict)
    skipped_logs: int = 0           # unreadable logs
    skipped_lines: int = 0          # unreadable lines inside readable logs
    feature_version: str = ""
    #: each row's origin (``search``, ``random``, ``neighbour``:
    #: :data:`lorien.tuning_log.MEASUREMENT_ORIGINS`);
    #: empty for a table built otherwise
    origins: np.ndarray = field(default_factory=lambda: np.asarray([], dtype=str))
    #: each row's sitting within its group (:func:`sittings_of`, 0 for the first); empty for a
    #: table built otherwise
    sittings: np.ndarray = field(default_factory=lambda: np.asarray([], dtype=int))

    def __len__(self) -> int:
        return len(self.score)

    @property
    def groups(self) -> np.ndarray:
        """Each row's ranking group: its workload on its target. Latencies compare within a
        group only (another CPU's are on another scale), so models rank and metrics score by it."""
        return np.char.add(np.char.add(self.workload_keys.astype(str), "@"), self.targets.astype(str))


def sittings_of(logs: Sequence[TuningLog]) -> list[int]:
    """Each log's sitting (0, 1, ...): logs taken by start time, a new sitting begins with a log
    that starts more than :data:`SITTING_GAP_SECONDS` after every earlier one finished."""
    found = [0] * len(logs)
    sitting, finished = -1, -math.inf
    for index in sorted(range(len(logs)), key=lambda i: logs[i].started_at):
        if logs[index].started_at - finished > SITTING_GAP_SECONDS:
            sitting += 1
        found[index] = sitting
        finished = max(finished, logs[index].finished_at)
    return found


def build_table(dialect: Featurizer, tuning_logs: Iterable[TuningLog], *, skipped_logs: int = 0,
                skipped_lines: int = 0, progress: bool = False,
                featurize: Featurize | None = None, cache: FeatureCache | None = None) -> LogTable:
    """The table of all measurements in ``tuning_logs`` (logs of one workload on one target are
    merged, and labelled against that target's best; rows of several targets share the workload's
    key).

    A row is one distinct schedule of a workload on a target: a schedule those logs timed more
    than once is one row, labelled with its fastest run of any timing
    (:func:`~lorien.tuning_log.distinct_measurements`), so a ranker's first five picks are five
    schedules, not one schedule's copies. Rows are ordered by workload key, then as first
    measured, whatever ``featurize`` is, so tables of the same logs line up row for row.

    Args:
        featurize: the rows' features in another form (e.g. a compiler's own cost model input,
            :attr:`lorien.dialects.NativeCostModel.featurize`), taken as they are, without
            workload descriptors; None for the dialect's schedule features plus descriptors.
        cache: where schedule features (``featurize``'s, or the dialect's) are kept between
            calls, log by log; its recipe must name the features computed.

    Raises:
        InvalidInput: no measurement at all.
    """
    by_workload: dict[tuple[str, str], list[TuningLog]] = {}
    for log in tuning_logs:  # labels compare latencies on one target only
        by_workload.setdefault((log.workload.key, log.target.canonical), []).append(log)
    blocks, scores, latencies, failed, keys, targets, origins = [], [], [], [], [], [], []
    sittings: list[int] = []
    workloads: dict[str, Workload] = {}

    def rows_of(workload: Workload, target: Target, schedules: list[str]) -> tuple[np.ndarray, np.ndarray]:
        def compute() -> tuple[np.ndarray, np.ndarray]:
            if featurize is not None:
                return featurize(workload, target, schedules)
            return dialect.schedule_features(workload, target, schedules)

        return cache.rows(workload, target, schedules, compute) if cache is not None else compute()

    for (key, canonical), group in tqdm(sorted(by_workload.items()), desc="features", unit="workload",
                                        disable=not progress, leave=False):
        workload, target = group[0].workload, group[0].target
        logged = [m for log in group for m in log.measurements]
        if not logged:
            continue
        workloads[key] = workload
        parts = [rows_of(workload, target, [m.schedule for m in log.measurements])
                 for log in group if log.measurements]  # one log at a time: what a cache keeps
        # one row a schedule: the same schedule timed twice is one candidate, not two to rank
        measurements, firsts = distinct_measurements(logged)
        rows = np.concatenate([p[0] for p in parts])[firsts]
        applied = np.concatenate([p[1] for p in parts])[firsts]
        if featurize is None:
            descriptors = np.broadcast_to(workload_descriptors(workload),
                                          (len(measurements), len(DESCRIPTOR_NAMES)))
            blocks.append(np.hstack([rows, descriptors]))
        else:
            blocks.append(rows)
        every_sitting = [sitting for log, sitting in zip(group, sittings_of(group), strict=True)
                         for _ in log.measurements]
        row_sittings = [every_sitting[index] for index in firsts]
        for m, score, readable, sitting in zip(measurements, relative_scores(measurements), applied,
                                               row_sittings, strict=True):
            bad = m.latency is None or not readable
            latencies.append(math.inf if m.latency is None else label_latency(m.latency))
            scores.append(0.0 if bad else score)
            failed.append(bad)
            keys.append(key)
            targets.append(canonical)
            origins.append(m.origin)
            sittings.append(sitting)
    if not blocks:
        raise InvalidInput("no measurement in the given logs: nothing to train on")
    return LogTable(
        features=np.concatenate(blocks) if featurize else np.vstack(blocks).astype(np.float32),
        score=np.asarray(scores, dtype=np.float64),
        latency=np.asarray(latencies, dtype=np.float64),
        failed=np.asarray(failed, dtype=bool),
        workload_keys=np.asarray(keys),
        targets=np.asarray(targets),
        workloads=workloads,
        skipped_logs=skipped_logs,
        skipped_lines=skipped_lines,
        feature_version=dialect.feature_version,
        origins=np.asarray(origins),
        sittings=np.asarray(sittings, dtype=int),
    )
