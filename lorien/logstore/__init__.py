"""Full tuning logs: the :class:`LogStore` interface and its backends."""

from lorien.logstore.base import LogStore, log_key
from lorien.logstore.local import LocalLogStore

__all__ = ["LocalLogStore", "LogStore", "log_key"]
