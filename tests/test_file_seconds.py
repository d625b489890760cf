"""The recorded seconds per test file that order the suite's files (tests/file_seconds.py)."""

from __future__ import annotations

from tests.file_seconds import parse_durations, recorded


def test_durations_are_summed_per_file_setup_call_and_teardown() -> None:
    report = ["============ slowest durations ============",
              "12.50s call     tests/a/test_x.py::test_one",
              "2.00s setup    tests/a/test_x.py::test_one",
              "0.30s teardown tests/b/test_y.py::test_two[param::with::colons]",
              "(3 durations < 0.005s hidden.  Use -vv to show these durations.)"]
    assert parse_durations(report) == {"tests/a/test_x.py": 14.5, "tests/b/test_y.py": 0.3}


def test_the_record_names_test_files_with_seconds() -> None:
    seconds = recorded()
    assert seconds and all(path.startswith("tests/") and path.endswith(".py") for path in seconds)
    assert all(value >= 0 for value in seconds.values())
