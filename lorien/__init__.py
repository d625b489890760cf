"""Lorien: deep-learning operator schedules on request.

The core package: the data model (:mod:`lorien.records`), the storage interfaces and their backends
(:mod:`lorien.store`, :mod:`lorien.logstore`), configuration (:mod:`lorien.config`), the tuning-log
format (:mod:`lorien.tuning_log`) and the command line (:mod:`lorien.cli`). Subsystems live in
``lorien.dialects``, ``lorien.tuner``, ``lorien.datasets``, ``lorien.training``,
``lorien.predictor`` and ``lorien.serving``.
"""

__version__ = "0.1.0"
