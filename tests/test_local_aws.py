"""The local AWS stand-in answers one request at a time, so each request is atomic as on AWS."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from lorien.testing.local_aws import OneRequestAtATime


def test_requests_never_overlap() -> None:
    running, most = 0, 0
    guard = threading.Lock()

    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with guard:
            running -= 1
        start_response("200 OK", [])
        return [b"ok"]

    app = OneRequestAtATime(slow_app)
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: app({}, lambda *a: None), range(32)))
    assert bodies == [[b"ok"]] * 32
    assert most == 1


def test_cancelled_transactions_never_erase_other_writes(aws: str) -> None:
    """moto restores a table copy when a transaction is cancelled; served one request at a time,
    that copy can no longer erase what other clients wrote meanwhile."""
    client = boto3.client("dynamodb", endpoint_url=aws, region_name="us-east-1")
    table = f"atomic-{time.monotonic_ns()}"
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    client.put_item(TableName=table, Item={"k": {"S": "taken"}})

    def write(i: int) -> None:
        client.put_item(TableName=table, Item={"k": {"S": f"item-{i}"}})

    def doomed(_: int) -> None:
        try:  # cancelled: the first put's condition fails
            client.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {"k": {"S": "taken"}},
                         "ConditionExpression": "attribute_not_exists(k)"}},
                {"Put": {"TableName": table, "Item": {"k": {"S": "other"}}}}])
        except client.exceptions.TransactionCanceledException:
            pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: write(i) if i % 2 else doomed(i), range(200)))
    keys = {item["k"]["S"] for page in client.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]}
    assert keys == {"taken"} | {f"item-{i}" for i in range(1, 200, 2)}
