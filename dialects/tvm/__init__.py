"""The TVM MetaSchedule dialect (importing this package does not import TVM)."""

from lorien.dialects.base import Lowering

#: The lowering used when a caller names none (the dialect's and the compiler hook's): weights
#: prepacked. At the same tuning budget per kernel it built ResNet-18 and BERT-base faster than the
#: plain lowering, MobileNetV2 slower (``benchmarks/lowering.py``, the README's lowering figures).
#: TVM's own pipeline defaults to plain (``cpu_weight_prepack=False``): a database tuned that way
#: is used with ``--no-prepack``.
DEFAULT_LOWERING = Lowering(prepack=True)
