"""Lorien's full tuning log: every schedule measured for one workload, failures included.

On disk (and in object storage) a log is gzip-compressed JSON lines: one ``header`` line (format
version, workload, target, build, budget, times) followed by one ``measurement`` line per measured
schedule. A failed measurement keeps its schedule and gets ``latency: null`` and an ``error``.
Reading is tolerant: a truncated file or a malformed line is skipped and counted, never fatal.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lorien.errors import InvalidInput
from lorien.records import Latency, Target, Workload

LOG_FORMAT_VERSION = 1


#: Where a measured schedule came from: the tuner's search, a random draw from the kernel's
#: design space (so a data set also shows what bad schedules look like), or the best schedule of
#: a similar tuned workload adapted to the kernel's shapes (what an instant answer chooses among).
MEASUREMENT_ORIGINS = ("search", "random", "neighbour")


@dataclass(frozen=True)
class Measurement:
    """One measured schedule: its latency, or the error that stopped it (build, run, timeout),
    and its origin (one of :data:`MEASUREMENT_ORIGINS`)."""

    schedule: str
    latency: Latency | None
    error: str | None = None
    origin: str = "search"

    @property
    def ok(self) -> bool:
        return self.latency is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "measurement",
            "schedule": self.schedule,
            "latency": self.latency.to_dict() if self.latency else None,
            "error": self.error,
            **({"origin": self.origin} if self.origin != "search" else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        latency = data.get("latency")
        origin = data.get("origin", "search")
        if origin not in MEASUREMENT_ORIGINS:
            raise ValueError(f"unknown measurement origin {origin!r}")
        return cls(
            schedule=str(data["schedule"]),
            latency=Latency.from_dict(latency) if latency else None,
            error=data.get("error"),
            origin=origin,
        )


def label_latency(latency: Latency) -> float:
    """The latency a schedule is labelled with: the minimum of its timed runs. On a shared
    machine other work only ever adds time, so the fastest run is the one least disturbed (the
    mean of three runs moved by up to 30% when a neighbour was busy; the minimum by a few)."""
    return latency.min


def distinct_measurements(measurements: Sequence[Measurement]) -> tuple[list[Measurement], list[int]]:
    """One measurement per distinct schedule among one kernel's ``measurements`` on one target,
    and where each one's first copy stands in ``measurements``.

    A schedule measured more than once (a random draw the search also picked, a neighbour's
    schedule the search found too, a kernel searched in two sittings) is one candidate: its runs
    are every copy's that was timed (so its label, :func:`label_latency`, is its fastest run of
    any timing, as for a schedule timed once), its origin the first of its copies' in
    :data:`MEASUREMENT_ORIGINS` (``search`` before ``random`` before ``neighbour``); it failed
    only when every copy did (then it is its first copy). Order is of first copies."""
    copies: dict[str, list[int]] = {}
    for index, measurement in enumerate(measurements):
        copies.setdefault(measurement.schedule, []).append(index)
    merged: list[Measurement] = []
    for indices in copies.values():
        first = measurements[indices[0]]
        if len(indices) == 1:
            merged.append(first)
            continue
        runs = tuple(run for i in indices if (latency := measurements[i].latency) is not None
                     for run in latency.runs)
        origin = min((measurements[i].origin for i in indices), key=MEASUREMENT_ORIGINS.index)
        merged.append(Measurement(first.schedule, Latency(runs), origin=origin) if runs else first)
    return merged, [indices[0] for indices in copies.values()]


def relative_scores(measurements: Sequence[Measurement]) -> list[float]:
    """The learning label of each of one workload's measurements: ``best latency / its latency``
    (by :func:`label_latency`), in (0, 1] (1 for the fastest), and 0 for a failed one. Cost
    models rank with it, so every model trained on logs (Lorien's rankers, a compiler's search
    model) reads the same labels."""
    ok = [label_latency(m.latency) for m in measurements if m.latency is not None]
    best = min(ok) if ok else 0.0
    return [best / label_latency(m.latency) if m.latency is not None else 0.0 for m in measurements]


@dataclass(frozen=True)
class TuningLog:
    """Everything one tuning run of one workload measured.

    ``search`` says how the search started, so that runs can be compared like with like:
    ``"cold"`` (the compiler's default search), ``"warm:<model>"`` (guided from the first trial by
    a pre-trained model; ``<model>`` names its file and content digest), or None: not recorded
    (logs written before the field existed) or not a search (a campaign's random or neighbour
    samples).

    ``machine`` describes the host that measured (:func:`lorien.machine.host_machine`: its CPU
    model, cores, caches), None when not recorded (older logs, or RPC devices, which the target
    names). The target says which CPU the compiler generated code for; this says which one ran it.
    """

    workload: Workload
    target: Target
    build: str
    trials: int
    started_at: float
    finished_at: float
    measurements: tuple[Measurement, ...]
    search: str | None = None
    machine: Mapping[str, str | int] | None = None

    @property
    def succeeded(self) -> list[Measurement]:
        return [m for m in self.measurements if m.ok]

    def to_bytes(self) -> bytes:
        """The compressed JSON-lines form (deterministic for equal logs)."""
        header = {
            "type": "header",
            "format": LOG_FORMAT_VERSION,
            "workload": self.workload.to_dict(),
            "target": self.target.to_dict(),
            "build": self.build,
            "trials": self.trials,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            **({"search": self.search} if self.search is not None else {}),
            **({"machine": dict(self.machine)} if self.machine is not None else {}),
        }
        lines = [json.dumps(header, sort_keys=True)]
        lines += [json.dumps(m.to_dict(), sort_keys=True) for m in self.measurements]
        return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


@dataclass(frozen=True)
class ParsedLog:
    """A log read back, with how many lines had to be skipped."""

    log: TuningLog
    skipped_lines: int
    truncated: bool


def parse_tuning_log(data: bytes) -> ParsedLog:
    """Read a log written by :meth:`TuningLog.to_bytes`, keeping whatever is readable.

    Raises:
        InvalidInput: no readable header (not a Lorien log, or empty).
    """
    text, truncated = _gunzip_tolerant(data)
    lines = text.split("\n")
    if truncated and lines:
        lines = lines[:-1]  # the last line of a truncated stream may be cut mid-way
    header: dict[str, Any] | None = None
    measurements: list[Measurement] = []
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if header is None:
                if item.get("type") != "header":
                    raise InvalidInput("first line is not a header")
                header = item
            elif item.get("type") == "measurement":
                measurements.append(Measurement.from_dict(item))
            else:
                skipped += 1
        except InvalidInput:
            if header is None:
                break
            skipped += 1
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped += 1
    if header is None:
        raise InvalidInput("not a Lorien tuning log: no readable header line")
    try:
        if int(header["format"]) > LOG_FORMAT_VERSION:
            raise InvalidInput(f"tuning log format {header['format']} is newer than this Lorien")
        log = TuningLog(
            workload=Workload.from_dict(header["workload"]),
            target=Target.from_dict(header["target"]),
            build=str(header["build"]),
            trials=int(header["trials"]),
            started_at=float(header["started_at"]),
            finished_at=float(header["finished_at"]),
            measurements=tuple(measurements),
            search=None if header.get("search") is None else str(header["search"]),
            machine=_machine(header.get("machine")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed tuning log header: {exc!r}") from exc
    return ParsedLog(log=log, skipped_lines=skipped, truncated=truncated)


def _machine(data: object) -> dict[str, str | int] | None:
    """A header's machine description, keeping only string and integer values."""
    if not isinstance(data, dict):
        return None
    return {str(k): v for k, v in data.items() if isinstance(v, str | int) and not isinstance(v, bool)}


def _gunzip_tolerant(data: bytes) -> tuple[str, bool]:
    """Decompress as much of a gzip stream as is there; plain text passes through."""
    if not data.startswith(b"\x1f\x8b"):
        return data.decode("utf-8", errors="replace"), False
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = io.BytesIO()
    truncated = False
    try:
        out.write(decompressor.decompress(data))
        if not decompressor.eof:
            truncated = True
    except zlib.error:
        truncated = True
    return out.getvalue().decode("utf-8", errors="replace"), truncated

