"""The production log store: tuning logs as S3 objects under a bucket and prefix.

Objects are written whole (S3 makes a new object visible only once complete), multipart above
``multipart_threshold`` bytes, and every call is retried on throttling and transient errors by
the client (:mod:`lorien.aws`). Keys are content-addressed, so two writers of one key write the
same bytes and a second ``put`` is skipped.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from lorien.aws import aws_error, is_not_found, make_client, parse_aws_uri
from lorien.errors import NotFound
from lorien.logstore.base import LogStore, check_key

MULTIPART_THRESHOLD = 8 * 1024 * 1024


class S3LogStore(LogStore):
    """:class:`LogStore` on ``s3://bucket/prefix``; thread safe (one shared boto3 client).

    Args:
        uri: ``s3://BUCKET[/PREFIX][?region=R&endpoint_url=URL&max_attempts=N]``.
        multipart_threshold: objects at least this large are uploaded in parts of this size.

    Raises:
        InvalidInput: a malformed URI.
    """

    def __init__(self, uri: str, *, multipart_threshold: int = MULTIPART_THRESHOLD) -> None:
        self.bucket, prefix, options = parse_aws_uri(uri, "s3")
        self.prefix = f"{prefix}/" if prefix else ""
        self.uri = uri
        self._client = make_client("s3", options)
        self._multipart_threshold = multipart_threshold

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes) -> str:
        from boto3.s3.transfer import TransferConfig

        name = self._object(key)
        if self.exists(key):
            return key
        config = TransferConfig(multipart_threshold=self._multipart_threshold,
                                multipart_chunksize=max(self._multipart_threshold, 5 * 1024 * 1024),
                                use_threads=False)
        try:
            self._client.upload_fileobj(io.BytesIO(data), self.bucket, name, Config=config)
        except Exception as exc:
            raise self._error(exc, f"cannot write log {key}") from exc
        return key

    def get(self, key: str) -> bytes:
        name = self._object(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=name)
            return bytes(response["Body"].read())
        except Exception as exc:
            if is_not_found(exc):
                raise NotFound(f"no log {key!r} in {self.uri}") from None
            raise self._error(exc, f"cannot read log {key}") from exc

    def exists(self, key: str) -> bool:
        name = self._object(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise self._error(exc, f"cannot look up log {key}") from exc
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix)
            keys = [item["Key"][len(self.prefix):] for page in pages for item in page.get("Contents", ())]
        except Exception as exc:
            raise self._error(exc, f"cannot list logs under {prefix!r}") from exc
        return iter(sorted(keys))

    def _error(self, exc: BaseException, what: str) -> Any:
        return aws_error(exc, f"{self.uri}: {what}")

    def create_bucket(self) -> bool:
        """Create the bucket if it does not exist; True when it was created."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return False
        except Exception as exc:
            if not is_not_found(exc) and "NoSuchBucket" not in str(exc):
                raise self._error(exc, "cannot look up the bucket") from exc
        region = self._client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(**kwargs)
        except Exception as exc:
            if "BucketAlreadyOwnedByYou" in str(exc):
                return False
            raise self._error(exc, "cannot create the bucket") from exc
        return True

    def close(self) -> None:
        self._client.close()
