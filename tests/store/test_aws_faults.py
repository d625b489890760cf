"""Faults injected at the HTTP level between boto3 and the local AWS server: throttling and
transient errors are retried, and a failed log upload never leaves a record pointing at a
missing log."""

from __future__ import annotations

import pytest

from lorien.config import open_logs, open_store
from lorien.dialects import TuneOutcome
from lorien.errors import StoreError
from lorien.records import best_per_group
from lorien.testing.aws_faults import (
    CANCELLED_BY_THROTTLING,
    INTERNAL_DYNAMODB,
    INTERNAL_S3,
    THROTTLE_DYNAMODB,
    THROTTLE_S3,
    FaultRule,
    dynamodb_call,
    fault_proxy,
    s3_call,
)
from lorien.testing.factories import CPU_A, record, workload
from lorien.tuner.local import commit_outcome
from lorien.tuning_log import Measurement, TuningLog
from tests.aws import unique


def test_dynamodb_throttling_and_server_errors_are_retried(aws: str) -> None:
    rules = [FaultRule(dynamodb_call("PutItem"), THROTTLE_DYNAMODB, times=2),
             FaultRule(dynamodb_call("TransactWriteItems"), THROTTLE_DYNAMODB, times=3),
             FaultRule(dynamodb_call("TransactWriteItems"), CANCELLED_BY_THROTTLING, times=2),
             FaultRule(dynamodb_call("BatchGetItem"), THROTTLE_DYNAMODB, times=2),
             FaultRule(dynamodb_call("Query"), INTERNAL_DYNAMODB, times=2)]
    with fault_proxy(aws, rules) as proxy:
        uri = f"dynamodb://{unique('lorien')}?endpoint_url={proxy}&region=us-east-1"
        with open_store(uri, create=True) as store:
            recs = [record(seconds=(i + 1) * 1e-3, schedule=f"s{i}") for i in range(8)]
            other = [record("00000000000000bb", (i + 1) * 1e-3, schedule=f"s{i}") for i in range(3)]
            store.commit(recs[:4])  # one group: a conditional put
            store.commit(recs[4:] + other)  # two groups: a transaction
            assert [r.record_id for r in store.top_k("00000000000000aa", CPU_A, 10)] == [
                r.record_id for r in sorted(best_per_group(recs, store.keep), key=lambda r: r.latency.mean)]
            assert store.count(workload_key="00000000000000bb") == 3
    assert [r.injected for r in rules] == [2, 3, 2, 2, 2]


def test_s3_slow_down_and_server_errors_are_retried(aws: str) -> None:
    rules = [FaultRule(s3_call("PUT"), THROTTLE_S3, times=2), FaultRule(s3_call("GET"), INTERNAL_S3, times=2)]
    with fault_proxy(aws, rules) as proxy:
        logs = open_logs(f"s3://{unique('lorien')}/logs?endpoint_url={proxy}&region=us-east-1", create=True)
        logs.put("tvm/aa/x.jsonl.gz", b"payload")
        assert logs.get("tvm/aa/x.jsonl.gz") == b"payload"
    assert [r.injected for r in rules] == [2, 2]


def test_a_failed_log_upload_stores_no_record(aws: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store_uri = f"sqlite:///{tmp_path}/lorien.db"
    bucket = unique("lorien")
    open_logs(f"s3://{bucket}/logs?endpoint_url={aws}&region=us-east-1", create=True).close()
    recs = (record(seconds=1e-3), record(seconds=2e-3))
    log = TuningLog(workload(), CPU_A, "fake-1", 2, 0.0, 1.0,
                    tuple(Measurement(r.schedule, r.latency) for r in recs))
    outcome = TuneOutcome(records=recs, log=log, seconds=1.0)
    always = FaultRule(s3_call("PUT"), INTERNAL_S3, times=None)
    with fault_proxy(aws, [always]) as proxy, open_store(store_uri) as store:
        logs = open_logs(f"s3://{bucket}/logs?endpoint_url={proxy}&region=us-east-1&max_attempts=3")
        with pytest.raises(StoreError, match="cannot write log"):
            commit_outcome(store, logs, outcome)
        assert store.count() == 0
        assert always.injected >= 3  # retried (botocore: 3 attempts), then gave up
    with open_store(store_uri) as store:  # once S3 is healthy again, both land, log first
        logs = open_logs(f"s3://{bucket}/logs?endpoint_url={aws}&region=us-east-1")
        committed = commit_outcome(store, logs, outcome)
        assert all(logs.exists(r.log_ref) for r in store.records())  # type: ignore[arg-type]
        assert len(committed) == store.count() == 2


REJECTED_DYNAMODB = (400, "application/x-amz-json-1.0",
                     b'{"__type":"com.amazon.coral.service#UnrecognizedClientException",'
                     b'"message":"The security token included in the request is invalid."}')
REJECTED_S3 = (403, "application/xml",
               b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidAccessKeyId</Code>"
               b"<Message>The AWS Access Key Id you provided does not exist in our records.</Message>"
               b"</Error>")


def test_rejected_credentials_are_one_clear_line(aws: str) -> None:
    """AWS answers wrong keys with UnrecognizedClientException (DynamoDB) and 403
    InvalidAccessKeyId (S3); moto accepts any key, so the proxy answers as AWS would."""
    everything = [FaultRule(lambda *_: True, REJECTED_DYNAMODB, times=None)]
    with fault_proxy(aws, everything) as proxy, pytest.raises(StoreError, match="rejected the credentials"):
        open_store(f"dynamodb://t?endpoint_url={proxy}&region=us-east-1")
    everything = [FaultRule(lambda *_: True, REJECTED_S3, times=None)]
    with fault_proxy(aws, everything) as proxy, pytest.raises(StoreError, match="rejected the credentials"):
        list(open_logs(f"s3://b/logs?endpoint_url={proxy}&region=us-east-1").list())
