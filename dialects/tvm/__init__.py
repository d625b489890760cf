"""The TVM MetaSchedule dialect (importing this package does not import TVM)."""

from lorien.dialects.base import Lowering

#: The lowering used when a caller names none (the dialect's and the compiler hook's): weights
#: prepacked. At the same tuning budget per kernel it built ResNet-18, BERT-base and (taking each
#: kernel's faster schedule, its own or its plain twin's) MobileNetV2 faster than the plain lowering
#: (``benchmarks/lowering.py``, the README's lowering figures). TVM's own pipeline defaults to plain
#: (``cpu_weight_prepack=False``): a database tuned that way serves prepacked kernels through their
#: plain twins, and ``--no-prepack`` builds as that pipeline does.
DEFAULT_LOWERING = Lowering(prepack=True)
