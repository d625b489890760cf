"""Seconds each test file took in a recorded run of the suite (``tests/file_seconds.json``), which
orders the files heaviest first under pytest-xdist (``tests/conftest.py``).

Record it again from a run with every duration printed (setup, call and teardown of each test)::

    .venv/bin/python -m pytest -n 2 --dist loadfile --durations=0 > run.log
    .venv/bin/python -m tests.file_seconds run.log
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

RECORD = Path(__file__).with_name("file_seconds.json")
_DURATION = re.compile(r"^([\d.]+)s (?:setup|call|teardown)\s+(\S+?)::")


def parse_durations(lines: list[str]) -> dict[str, float]:
    """Seconds per test file from pytest's ``--durations=0`` report."""
    seconds: Counter[str] = Counter()
    for line in lines:
        match = _DURATION.match(line)
        if match:
            seconds[match.group(2)] += float(match.group(1))
    return {path: round(total, 1) for path, total in sorted(seconds.items())}


def recorded() -> dict[str, float]:
    """The recorded seconds per file; empty when there is no record."""
    return json.loads(RECORD.read_text()) if RECORD.is_file() else {}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.file_seconds RUN_LOG", file=sys.stderr)
        return 2
    seconds = parse_durations(Path(argv[0]).read_text().splitlines())
    if not seconds:
        print(f"no durations in {argv[0]} (run pytest with --durations=0)", file=sys.stderr)
        return 1
    RECORD.write_text(json.dumps(seconds, indent=1) + "\n")
    print(f"{len(seconds)} files, {sum(seconds.values()):.0f} s in all -> {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
