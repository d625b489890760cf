"""Scheduling tuning work: jobs, the workers that run them anywhere, and committing results.

:mod:`lorien.tuner.submit` turns workloads into jobs of the queue (:mod:`lorien.queue`);
:mod:`lorien.tuner.worker` claims and runs them (locally, against RPC devices, or in AWS Batch
containers); :mod:`lorien.tuner.local` is the in-process loop for one machine without a queue.
"""

from lorien.tuner.local import TuneReport, commit_outcome, is_tuned, tune_workloads

__all__ = ["TuneReport", "commit_outcome", "is_tuned", "tune_workloads"]
