"""The DynamoDB backend over HTTP (moto's server on 127.0.0.1): the conformance suite, plus what
is particular to DynamoDB."""

from __future__ import annotations

import pytest

from lorien.config import open_store
from lorien.errors import InvalidInput, StoreError
from lorien.records import Workload
from lorien.store.dynamodb import DynamoDBScheduleStore
from lorien.testing.factories import CPU_A, record
from lorien.testing.store_conformance import ScheduleStoreConformance
from tests.aws import unique


def make_store_uri(endpoint: str, **options: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"endpoint_url": endpoint, "region": "us-east-1",
                                             **options}.items())
    uri = f"dynamodb://{unique('lorien')}?{query}"
    open_store(uri, create=True).close()  # opens the blob store the options may name
    return uri


class TestDynamoDBConformance(ScheduleStoreConformance):
    @pytest.fixture
    def store_uri(self, aws: str) -> str:
        return make_store_uri(aws)


def test_create_tables_twice_is_safe(aws: str) -> None:
    uri = make_store_uri(aws)
    with open_store(uri) as store:
        store.commit([record()])
        assert store.create_tables() == []  # type: ignore[attr-defined]
        assert store.count() == 1


def test_missing_tables_are_one_clear_line(aws: str) -> None:
    with pytest.raises(StoreError, match="lorien db init"):
        open_store(f"dynamodb://nothing-here?endpoint_url={aws}&region=us-east-1")


def test_wrong_credentials_are_one_clear_line(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = make_store_uri(aws)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match="no AWS credentials"):
        open_store(uri)


def test_unknown_uri_options(aws: str) -> None:
    with pytest.raises(InvalidInput, match="unknown option 'colour'"):
        open_store(f"dynamodb://x?colour=red&endpoint_url={aws}")
    with pytest.raises(InvalidInput, match="keep"):
        open_store(f"dynamodb://x?keep=many&endpoint_url={aws}")


def test_large_schedules_and_payloads_go_to_the_blob_store(aws: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import random

    rng = random.Random(0)
    huge = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(300_000))
    uri = make_store_uri(aws)
    with open_store(uri) as store, pytest.raises(StoreError, match="blobs="):
        store.commit([record(schedule=huge)])
    blobs = tmp_path / "blobs"
    with open_store(f"{uri}&blobs=file://{blobs}") as store:
        assert store.commit([record(schedule=huge), record(seconds=2e-3)]).kept == 2
        big = Workload(dialect="fake", key="00000000000000ee", name="big", flops=1.0, payload=huge)
        assert store.put_workloads([big]) == 1
    with open_store(f"{uri}&blobs=file://{blobs}") as store:
        assert store.top_k("00000000000000aa", CPU_A, 2)[0].schedule == huge
        assert store.get_workload("fake", "00000000000000ee") == big
    assert len(list(blobs.rglob("*.z"))) == 2


def test_a_blob_store_named_in_the_uri_must_be_handed_over(aws: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The store does not open other stores: ``open_store`` opens the blob store the URI names and
    hands it over; constructed directly without it, the store refuses the URI at once."""
    uri = f"{make_store_uri(aws)}&blobs=file://{tmp_path / 'blobs'}"
    with pytest.raises(InvalidInput, match="names a blob store"):
        DynamoDBScheduleStore(uri, check_tables=False)
    with open_store(uri) as store:
        assert store._blobs is not None and store._blobs.uri.startswith("file://")  # type: ignore[attr-defined]


def test_a_lookup_is_one_query_per_workload(aws: str) -> None:
    """A hit and a miss are one DynamoDB Query each (the workload's partition, every group of the
    target's kind), ranked in memory; an equivalent adds its own partition's Query."""
    from lorien.lookup import find_schedule
    from lorien.testing.factories import CPU_B

    with open_store(make_store_uri(aws)) as store:
        store.commit([record(seconds=2e-3, source="measured"), record(seconds=1e-3, target=CPU_B),
                      record(seconds=1e-6, source="predicted")])
        calls: list[str] = []
        store._client.meta.events.register(  # type: ignore[attr-defined]
            "before-call.dynamodb", lambda model, **_: calls.append(model.name))
        found = find_schedule(store, "00000000000000aa", CPU_A, "fake-1")
        assert found is not None and found.record.source == "measured" and calls == ["Query"]
        assert find_schedule(store, "00000000000000ff", CPU_A, "fake-1") is None and calls == ["Query"] * 2
        find_schedule(store, "00000000000000aa", CPU_A, "fake-1", equivalents=["00000000000000bb"])
        assert calls == ["Query"] * 4
