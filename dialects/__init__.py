"""Compilers Lorien speaks: the dialect interface, its roles, its registry, and the TVM MetaSchedule
dialect.

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
    OutputCheck,
    RPCEndpoint,
    TorchModel,
    TuneOptions,
    TuneOutcome,
)
from lorien.dialects.registry import available_dialects, get_dialect
from lorien.dialects.roles import (
    Builder,
    Featurizer,
    Frontend,
    Measurer,
    Measuring,
    NativeDB,
    OutputChecker,
    Proposer,
    Tuner,
    require,
)

__all__ = [
    "Builder",
    "CandidateOptions",
    "Candidates",
    "CompiledModel",
    "Dialect",
    "Featurizer",
    "Frontend",
    "Lowering",
    "LoweringChange",
    "Measurer",
    "Measuring",
    "NativeCostModel",
    "NativeDB",
    "OutputCheck",
    "OutputChecker",
    "Proposer",
    "RPCEndpoint",
    "TorchModel",
    "TuneOptions",
    "TuneOutcome",
    "Tuner",
    "available_dialects",
    "get_dialect",
    "require",
]
