"""The DynamoDB job queue over HTTP (moto's server on 127.0.0.1): the conformance suite, plus what
is particular to DynamoDB (the table, its index's sort key, retries and lost answers)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lorien.config import open_queue
from lorien.errors import InvalidInput, StoreError
from lorien.jobs import Job
from lorien.queue import ClaimFilter
from lorien.queue.base import CLAIM_CANDIDATES
from lorien.queue.dynamodb import PRIORITY_BOUND, DynamoDBJobQueue, order_key, table_name
from lorien.testing.aws_faults import THROTTLE_DYNAMODB, FaultRule, dynamodb_call, fault_proxy
from lorien.testing.queue_conformance import JobQueueConformance, spec
from tests.aws import unique
from tests.store.test_dynamodb import make_store_uri


def make_queue_uri(endpoint: str, **options: str) -> str:
    """A fresh prefix with the store's tables and the jobs table."""
    uri = make_store_uri(endpoint, **options)
    open_queue(uri, create=True).close()
    return uri


class TestDynamoDBJobQueueConformance(JobQueueConformance):
    @pytest.fixture
    def queue_uri(self, aws: str) -> str:
        return make_queue_uri(aws)


def test_a_missing_table_is_one_clear_line(aws: str) -> None:
    for uri in (f"dynamodb://nothing-here?endpoint_url={aws}&region=us-east-1",
                make_store_uri(aws)):  # the store's tables but not the queue's
        with pytest.raises(StoreError, match="lorien db init") as raised:
            open_queue(uri)
        assert "-jobs" in str(raised.value) and "\n" not in str(raised.value)


def test_create_table_twice_is_safe(aws: str) -> None:
    uri = make_store_uri(aws)
    queue = DynamoDBJobQueue(uri, check_table=False)
    assert queue.create_table() == [table_name(queue.prefix)]
    queue.close()
    with open_queue(uri, create=True) as again:
        again.enqueue([spec()])
        assert again.create_table() == []  # type: ignore[attr-defined]
        assert again.counts()["waiting"] == 1


def test_uri_options(aws: str) -> None:
    uri = make_queue_uri(aws, keep="3", blobs="file:///tmp/blobs")  # the store's options are ignored
    with open_queue(uri) as queue:
        assert queue.counts()["waiting"] == 0
    with pytest.raises(InvalidInput, match="unknown option 'colour'"):
        open_queue(f"dynamodb://x?colour=red&endpoint_url={aws}")
    with pytest.raises(InvalidInput, match="table prefix"):
        open_queue(f"dynamodb://x/y?endpoint_url={aws}")


def test_a_closed_queue_says_so(aws: str) -> None:
    queue = open_queue(make_queue_uri(aws))
    queue.close()
    queue.close()
    with pytest.raises(StoreError, match="closed"):
        queue.get("x")


def test_the_sort_key_orders_by_priority_then_age_then_id() -> None:
    def job(priority: int, created_at: float, key: str = "a" * 16) -> Job:
        return Job(spec=spec(key, priority=priority), state="waiting", created_at=created_at)

    expected = [job(PRIORITY_BOUND + 5, 5.0), job(10**9 + 1, 9.0), job(3, 1.0), job(3, 2.0),
                job(3, 1_700_000_000.25), job(0, 0.5), job(-1, 0.0), job(-10**9 - 1, 0.0),
                job(-PRIORITY_BOUND - 5, 0.0)]
    keys = [order_key(j) for j in expected]
    assert keys == sorted(keys) and len({len(k) for k in keys}) == 1
    same = [job(0, 1.0, "b" * 16), job(0, 1.0, "c" * 16)]
    assert (order_key(same[0]) < order_key(same[1])) == (same[0].job_id < same[1].job_id)


def test_negative_and_huge_priorities_are_listed_and_claimed_in_order(aws: str) -> None:
    priorities = [-7, 0, 10**20, -10**20, 3, -1]
    with open_queue(make_queue_uri(aws)) as queue:
        queue.enqueue([spec(f"{i:016x}", priority=p) for i, p in enumerate(priorities)])
        assert [j.spec.priority for j in queue.jobs()] == sorted(priorities, reverse=True)
        claimed = [queue.claim("w", 60) for _ in priorities]
        assert [j.spec.priority for j in claimed if j] == sorted(priorities, reverse=True)


def test_a_claim_reads_past_a_page_of_jobs_it_cannot_run(aws: str) -> None:
    """The index query's Limit counts items read before the filter: the claim reads on."""
    with open_queue(make_queue_uri(aws)) as queue:
        others = [spec(f"{i:016x}", priority=5, build="fake-2") for i in range(CLAIM_CANDIDATES + 8)]
        queue.enqueue([*others, spec("f" * 16, priority=0)])
        job = queue.claim("w", 60, ClaimFilter(builds=frozenset({("fake", "fake-1")})))
        assert job is not None and job.spec.workload_key == "f" * 16
        assert queue.claim("w", 60, ClaimFilter(builds=frozenset())) is None


def test_throttling_is_retried_and_the_claim_succeeds_once(aws: str) -> None:
    rules = [FaultRule(dynamodb_call("PutItem"), THROTTLE_DYNAMODB, times=2),
             FaultRule(dynamodb_call("GetItem"), THROTTLE_DYNAMODB, times=2),
             FaultRule(dynamodb_call("Query"), THROTTLE_DYNAMODB, times=2)]
    with fault_proxy(aws, rules) as proxy:
        uri = f"dynamodb://{unique('lorien')}?endpoint_url={proxy}&region=us-east-1"
        with open_queue(uri, create=True) as queue, open_queue(uri) as other:
            assert queue.enqueue([spec()]).added == [spec().job_id]
            first = queue.claim("w1", lease_s=60)
            assert first is not None and first.attempts == 1
            assert other.claim("w2", lease_s=60) is None
            stored = other.get(spec().job_id)
            assert stored is not None
            assert (stored.state, stored.worker, stored.attempts) == ("running", "w1", 1)
            assert sum("claimed by" in line for line in stored.history) == 1
    assert [r.injected for r in rules] == [2, 2, 2]


def test_a_put_whose_answer_was_lost_counts_as_written(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries a put whose first try landed but whose answer was lost (a timeout, a 500):
    the retry fails its own condition, and the queue recognises the item it wrote."""
    with open_queue(make_queue_uri(aws)) as queue:
        assert isinstance(queue, DynamoDBJobQueue)
        real = queue._client.put_item

        def landed_then_retried(**kwargs: Any) -> Any:
            real(**kwargs)
            return real(**kwargs)

        monkeypatch.setattr(queue._client, "put_item", landed_then_retried)
        assert queue.enqueue([spec()]).added == [spec().job_id]
        job = queue.claim("w1", 60)
        assert job is not None and job.attempts == 1
        assert queue.claim("w2", 60) is None
        monkeypatch.undo()
        found = queue._read(job.job_id)
        assert found is not None and found == (job, 2)
        stale = dataclasses.replace(job, worker="w3")
        assert not queue._write(stale, 1)        # a real lost race is still lost
        assert not queue._write(stale, None)
        assert queue._read(job.job_id) == (job, 2)
