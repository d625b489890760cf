"""What the tuner's drills share: the same test on SQLite and on DynamoDB (moto's server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lorien.config import open_logs, open_queue, open_store
from lorien.queue import JobQueue
from lorien.store import ScheduleStore


@dataclass
class Backend:
    store_uri: str
    logs_uri: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "LORIEN_STORE": self.store_uri, "LORIEN_LOGS": self.logs_uri}


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend(f"sqlite:///{tmp_path}/lorien.db", f"file://{tmp_path}/logs")
    from tests.aws import unique

    endpoint = request.getfixturevalue("aws")
    uri = f"dynamodb://{unique('drill')}?endpoint_url={endpoint}&region=us-east-1"
    open_store(uri, create=True).close()
    open_queue(uri, create=True).close()
    logs = f"s3://{unique('drill')}/logs?endpoint_url={endpoint}&region=us-east-1"
    open_logs(logs, create=True).close()
    return Backend(uri, logs)


@pytest.fixture
def opened(backend: Backend) -> Iterator[tuple[ScheduleStore, JobQueue]]:
    with open_store(backend.store_uri) as store, open_queue(backend.store_uri) as queue:
        yield store, queue


