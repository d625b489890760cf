"""The SQLite job queue: the conformance suite, plus living beside the schedule store."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.config import open_queue, open_store
from lorien.testing.factories import record
from lorien.testing.queue_conformance import JobQueueConformance, spec


class TestSQLiteJobQueueConformance(JobQueueConformance):
    @pytest.fixture
    def queue_uri(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/lorien.db"


def test_jobs_share_the_store_file_without_touching_records(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/lorien.db"
    with open_store(uri) as store:
        store.commit([record()])
    with open_queue(uri) as queue:
        queue.enqueue([spec()])
    with open_store(uri) as store, open_queue(uri) as queue:
        assert store.count() == 1 and queue.counts()["waiting"] == 1
