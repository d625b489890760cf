"""The S3 log backend over HTTP (moto's server on 127.0.0.1): the conformance suite, plus what is
particular to S3."""

from __future__ import annotations

import pytest

from lorien.config import open_logs
from lorien.errors import StoreError
from lorien.logstore.s3 import S3LogStore
from lorien.testing.logstore_conformance import LogStoreConformance
from tests.aws import unique


def make_logs_uri(endpoint: str, prefix: str = "logs") -> str:
    uri = f"s3://{unique('lorien')}/{prefix}?endpoint_url={endpoint}&region=us-east-1"
    logs = S3LogStore(uri)
    assert logs.create_bucket()
    assert not logs.create_bucket()
    logs.close()
    return uri


class TestS3LogStoreConformance(LogStoreConformance):
    @pytest.fixture
    def logs_uri(self, aws: str) -> str:
        return make_logs_uri(aws)


def test_large_logs_are_uploaded_in_parts(aws: str) -> None:
    uri = make_logs_uri(aws)
    logs = S3LogStore(uri, multipart_threshold=5 * 1024 * 1024)
    data = bytes(range(256)) * (13 * 1024 * 1024 // 256)
    logs.put("tvm/big/x.jsonl.gz", data)
    head = logs._client.head_object(Bucket=logs.bucket, Key="logs/tvm/big/x.jsonl.gz")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    assert logs.get("tvm/big/x.jsonl.gz") == data


def test_prefixes_keep_stores_apart(aws: str) -> None:
    uri = make_logs_uri(aws, "a")
    with_other_prefix = uri.replace("/a?", "/b?")
    open_logs(uri).put("tvm/k/x.jsonl.gz", b"x")
    assert list(open_logs(with_other_prefix).list()) == []
    assert list(open_logs(uri).list()) == ["tvm/k/x.jsonl.gz"]


def test_a_missing_bucket_is_one_clear_line(aws: str) -> None:
    logs = open_logs(f"s3://no-such-bucket-here/x?endpoint_url={aws}&region=us-east-1")
    with pytest.raises(StoreError, match="bucket"):
        list(logs.list())
    with pytest.raises(StoreError, match="bucket"):
        logs.put("tvm/k/x.jsonl.gz", b"x")
