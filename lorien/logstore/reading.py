"""Reading a log store's tuning logs back, tolerating what cannot be read."""

from __future__ import annotations

from tqdm import tqdm

from lorien.errors import LorienError
from lorien.logstore.base import LOG_SUFFIX, LogStore
from lorien.tuning_log import TuningLog, parse_tuning_log


def read_logs(logs: LogStore, prefix: str = "", progress: bool = False
              ) -> tuple[list[TuningLog], int, int]:
    """Every readable tuning log (``*.jsonl.gz``, as :func:`lorien.logstore.log_key` names them)
    under ``prefix``, with how many logs and lines had to be skipped (unreadable or truncated
    logs are counted, never raised). Reads through ``logs``; as thread-safe as it is."""
    found: list[TuningLog] = []
    skipped_logs = skipped_lines = 0
    keys = [key for key in logs.list(prefix) if key.endswith(LOG_SUFFIX)]
    for key in tqdm(keys, desc="reading logs", unit="log", disable=not progress, leave=False):
        try:
            parsed = parse_tuning_log(logs.get(key))
        except LorienError:
            skipped_logs += 1
            continue
        skipped_lines += parsed.skipped_lines
        found.append(parsed.log)
    return found, skipped_logs, skipped_lines
