"""The in-memory store: the conformance suite (what applies to one process), and its own edges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lorien.errors import InvalidInput, StoreError
from lorien.store.memory import MemoryScheduleStore
from lorien.testing.factories import CPU_A, record
from lorien.testing.store_conformance import ScheduleStoreConformance


class TestMemoryConformance(ScheduleStoreConformance):
    opened_by_uri = False

    @pytest.fixture
    def store(self) -> Iterator[MemoryScheduleStore]:
        with MemoryScheduleStore() as opened:
            yield opened  # type: ignore[misc]


def test_a_closed_store_refuses_calls_and_keep_is_checked() -> None:
    store = MemoryScheduleStore(keep=2)
    store.commit([record(seconds=t) for t in (1e-3, 2e-3, 3e-3)])
    assert store.count() == 2
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.top_k("00000000000000aa", CPU_A)
    with pytest.raises(InvalidInput):
        MemoryScheduleStore(keep=0)


def test_two_stores_share_nothing() -> None:
    with MemoryScheduleStore() as first, MemoryScheduleStore() as second:
        first.commit([record()])
        assert second.count() == 0 and first.uri != second.uri
