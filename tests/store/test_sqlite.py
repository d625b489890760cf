"""The SQLite backend: the conformance suite, plus what is particular to a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.config import open_store
from lorien.errors import StoreError
from lorien.testing.factories import record
from lorien.testing.store_conformance import ScheduleStoreConformance


class TestSQLiteConformance(ScheduleStoreConformance):
    @pytest.fixture
    def store_uri(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/lorien.db"


def test_keep_is_read_from_the_uri(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/a.db?keep=2") as store:
        store.commit([record(seconds=t) for t in (1e-3, 2e-3, 3e-3)])
        assert store.keep == 2 and store.count() == 2


def test_wal_mode_is_on(tmp_path: Path) -> None:
    import sqlite3

    with open_store(f"sqlite:///{tmp_path}/a.db") as store:
        store.commit([record()])
    mode = sqlite3.connect(tmp_path / "a.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        open_store(f"sqlite:///{bogus}")
    assert bogus.read_bytes() == b"this is not sqlite" * 100


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/a.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()


def test_a_lookup_is_one_statement_hit_or_miss(tmp_path: Path) -> None:
    """The look-up rule ranks in memory what one statement returns: a hit, a miss and a look-up
    with an equivalent each run one SELECT (they ran up to 8, 24 on a miss, before)."""
    from lorien.lookup import find_schedule
    from lorien.testing.factories import CPU_A, CPU_B

    with open_store(f"sqlite:///{tmp_path}/a.db") as store:
        store.commit([record(seconds=2e-3, source="measured"), record(seconds=1e-3, target=CPU_B),
                      record(seconds=1e-6, source="predicted")])
        statements: list[str] = []
        store._file.connection().set_trace_callback(statements.append)  # type: ignore[attr-defined]
        found = find_schedule(store, "00000000000000aa", CPU_A, "fake-1")
        assert found is not None and found.record.source == "measured" and len(statements) == 1
        assert find_schedule(store, "00000000000000ff", CPU_A, "fake-1") is None and len(statements) == 2
        find_schedule(store, "00000000000000aa", CPU_A, "fake-1", equivalents=["00000000000000bb"])
        assert len(statements) == 3 and all(s.lstrip().upper().startswith("SELECT") for s in statements)
