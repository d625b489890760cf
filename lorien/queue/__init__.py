"""Tuning jobs shared by every worker: the :class:`JobQueue` interface and its backends."""

from lorien.queue.base import ClaimFilter, EnqueueReport, JobQueue
from lorien.queue.sqlite import SQLiteJobQueue

__all__ = ["ClaimFilter", "EnqueueReport", "JobQueue", "SQLiteJobQueue"]
