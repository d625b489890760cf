"""Full tuning logs: the :class:`LogStore` interface and its backends."""

from lorien.logstore.base import LOG_SUFFIX, LogStore, log_key
from lorien.logstore.local import LocalLogStore
from lorien.logstore.reading import read_logs

__all__ = ["LOG_SUFFIX", "LocalLogStore", "LogStore", "log_key", "read_logs"]
