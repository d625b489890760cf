"""Scheduling tuning work: which workloads to tune, where, and committing what comes back."""

from lorien.tuner.local import TuneReport, commit_outcome, is_tuned, tune_workloads

__all__ = ["TuneReport", "commit_outcome", "is_tuned", "tune_workloads"]
