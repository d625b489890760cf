"""Best schedules: the :class:`ScheduleStore` interface and its backends."""

from lorien.store.base import CommitResult, GroupSummary, ScheduleStore, TargetMatch
from lorien.store.sqlite import SQLiteScheduleStore

__all__ = ["CommitResult", "GroupSummary", "SQLiteScheduleStore", "ScheduleStore", "TargetMatch"]
