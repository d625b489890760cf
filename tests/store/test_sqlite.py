"""The SQLite backend: the conformance suite, plus what is particular to a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.config import open_store
from lorien.errors import StoreError
from tests.factories import record
from tests.store.conformance import ScheduleStoreConformance


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
