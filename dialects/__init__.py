"""Compilers Lorien speaks: the dialect interface, its registry, and the TVM MetaSchedule dialect.

Importing this package imports no compiler; :func:`get_dialect` loads one on demand.
"""

from lorien.dialects.base import (
    CandidateOptions,
    Candidates,
    CompiledModel,
    Dialect,
    Lowering,
    LoweringChange,
    NativeCostModel,
    RPCEndpoint,
    TorchModel,
    TuneOptions,
    TuneOutcome,
)
from lorien.dialects.registry import available_dialects, get_dialect

__all__ = [
    "CandidateOptions",
    "Candidates",
    "CompiledModel",
    "Dialect",
    "Lowering",
    "LoweringChange",
    "NativeCostModel",
    "RPCEndpoint",
    "TorchModel",
    "TuneOptions",
    "TuneOutcome",
    "available_dialects",
    "get_dialect",
]
