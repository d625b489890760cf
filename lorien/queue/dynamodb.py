"""The production job queue: one DynamoDB table beside the schedule store's, shared by every worker.

Key schema, designed for the reads the queue makes:

* ``PREFIX-jobs``: one item per job. Partition key ``job_id`` (S). The item holds ``version``
  (N, the compare-and-set counter), ``state`` (S), ``order`` (S, see below), the claim filter's
  plain attributes ``dialect``, ``build``, ``target`` (the canonical target) and ``tier`` (absent
  on items written before there were tiers: those are tuning jobs), and the whole job
  as zlib-compressed JSON (``job``, B).
* Global secondary index ``by_state``: partition key ``state``, sort key ``order``, every
  attribute projected. ``order`` = ``INVERTED_URGENCY#CREATED_AT#JOB_ID`` (fixed-width digits;
  the urgency is the priority, plus :data:`~lorien.jobs.MEASURE_LEAD` for a measuring job), so
  that ascending ``order`` is measuring jobs first, then highest priority, then oldest, then by
  id: the
  claim's candidates (and ``lorien jobs``' listing) are one paginated ``Query`` per state, most
  urgent first, with a ``Limit`` and a ``FilterExpression`` for the worker's builds, target and
  tiers. Urgencies beyond ±(10^18 - 1) are clamped in the sort key (the listing is still exact:
  results are sorted by the job's own values).

Concurrency: every state change is a conditional ``PutItem`` of the whole item, on
``attribute_not_exists(job_id)`` for a new job and ``version = :read`` otherwise; a lost race is
a ``ConditionalCheckFailedException``, and :class:`~lorien.queue.base.JobQueue` reads the job
again (``GetItem``, strongly consistent) and recomputes. Exactly one of any number of concurrent
claimers of a job wins. The index is eventually consistent (DynamoDB offers no consistent reads
on a GSI): a claim may see a job a moment late, or see a stale copy, whose write then fails its
version condition and the claim moves on; nothing is ever taken twice. ``counts`` and listings
may lag writes by a moment.

A put is retried by botocore after throttling and transient errors (:mod:`lorien.aws`). When a
put landed but its answer was lost, the retry fails its own condition; the failure returns the
stored item (``ReturnValuesOnConditionCheckFailure``), and a stored item equal to the one written
(same version, byte-identical job) counts as written.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lorien.aws import aws_error, error_code, make_client, parse_aws_uri
from lorien.errors import InvalidInput, LorienError, StoreError
from lorien.jobs import Job, JobState, claim_order
from lorien.queue.base import ClaimFilter, JobQueue, Versioned

#: The global secondary index serving scans by state.
INDEX = "by_state"
#: Priorities are clamped into ±this in the sort key.
PRIORITY_BOUND = 10**18 - 1
#: Above this many (dialect, build) pairs the claim filter is left to the caller (expression size).
MAX_FILTERED_BUILDS = 16
_CREATED_BOUND = 10.0**13 - 1


def table_name(prefix: str) -> str:
    """The jobs table of a prefix."""
    return f"{prefix}-jobs"


def order_key(job: Job) -> str:
    """The index sort key: ascending is measuring jobs first, then highest priority, then oldest
    first, then by id."""
    priority = max(-PRIORITY_BOUND, min(PRIORITY_BOUND, job.spec.urgency))
    created = max(0.0, min(job.created_at, _CREATED_BOUND))
    return f"{PRIORITY_BOUND - priority:019d}#{created:020.6f}#{job.job_id}"


class DynamoDBJobQueue(JobQueue):
    """:class:`JobQueue` on DynamoDB. See the module docstring for the schema and the concurrency
    scheme. Thread safe: one boto3 client, shared.

    Args:
        uri: the schedule store's URI, ``dynamodb://TABLE_PREFIX?region=R&endpoint_url=URL``; the
            store's own options (``keep``, ``blobs``) are accepted and ignored.
        check_table: verify on open that the table and its index exist (a clear error otherwise).
        clock: the time source (Unix seconds).

    Raises:
        InvalidInput: a malformed URI.
        StoreError: the table is missing, or credentials are missing or rejected.
    """

    def __init__(self, uri: str, *, check_table: bool = True,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        prefix, path, options = parse_aws_uri(uri, "dynamodb", extra=("keep", "blobs"))
        if path:
            raise InvalidInput(f"{uri!r}: a dynamodb URI names a table prefix, not a path")
        self.uri = uri
        self.prefix = prefix
        self.table = table_name(prefix)
        self._client = make_client("dynamodb", options)
        self._closed = False
        if check_table:
            described = self._call("describe_table", f"table {self.table}", TableName=self.table)
            indexes = {index.get("IndexName") for index in
                       described.get("Table", {}).get("GlobalSecondaryIndexes", ())}
            if INDEX not in indexes:
                raise StoreError(f"{self.uri}: table {self.table} has no index {INDEX!r}; it was not "
                                 "made by `lorien db init` (delete it and run `lorien db init`)")

    def create_table(self) -> list[str]:
        """Create the table and its index (on-demand billing) when missing and wait until they are
        active. Safe to run twice, and while other processes use the table.

        Returns:
            The names of the tables created.
        """
        created = []
        try:
            self._client.create_table(
                TableName=self.table, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                                      for name in ("job_id", "state", "order")],
                GlobalSecondaryIndexes=[{
                    "IndexName": INDEX,
                    "KeySchema": [{"AttributeName": "state", "KeyType": "HASH"},
                                  {"AttributeName": "order", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }],
            )
            created.append(self.table)
        except Exception as exc:
            if error_code(exc) != "ResourceInUseException":
                raise aws_error(exc, f"{self.uri}: cannot create table {self.table}") from exc
        try:
            self._client.get_waiter("table_exists").wait(TableName=self.table,
                                                         WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        except Exception as exc:
            raise aws_error(exc, f"{self.uri}: table {self.table} did not become active") from exc
        return created

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, operation: str, what: str, **kwargs: Any) -> Any:
        if self._closed:
            raise StoreError(f"job queue {self.uri} is closed")
        try:
            return getattr(self._client, operation)(**kwargs)
        except Exception as exc:
            raise aws_error(exc, f"{self.uri}: {what}") from exc

    def _item(self, job: Job, version: int) -> dict[str, Any]:
        spec = job.spec
        blob = zlib.compress(json.dumps(job.to_dict(), sort_keys=True, separators=(",", ":")).encode(), 6)
        return {"job_id": {"S": job.job_id}, "version": {"N": str(version)}, "state": {"S": job.state},
                "order": {"S": order_key(job)}, "dialect": {"S": spec.dialect}, "build": {"S": spec.build},
                "target": {"S": spec.target.canonical}, "tier": {"S": spec.tier}, "job": {"B": blob}}

    def _decode(self, item: dict[str, Any]) -> Versioned:
        job_id = item.get("job_id", {}).get("S", "?")
        try:
            job = Job.from_dict(json.loads(zlib.decompress(item["job"]["B"])))
            return job, int(item["version"]["N"])
        except (KeyError, ValueError, zlib.error, LorienError) as exc:
            raise StoreError(f"{self.uri}: job {job_id} in {self.table} is unreadable: {exc}") from exc

    # -- the backend -----------------------------------------------------------------------------
    def _read(self, job_id: str) -> Versioned | None:
        found = self._call("get_item", f"cannot read job {job_id}", TableName=self.table,
                           Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        return self._decode(found["Item"]) if "Item" in found else None

    def _write(self, job: Job, expected_version: int | None) -> bool:
        if self._closed:
            raise StoreError(f"job queue {self.uri} is closed")
        item = self._item(job, 1 if expected_version is None else expected_version + 1)
        put: dict[str, Any] = {"TableName": self.table, "Item": item,
                               "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(job_id)"
        else:
            put["ConditionExpression"] = "#v = :v"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        try:
            self._client.put_item(**put)
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise aws_error(exc, f"{self.uri}: cannot write job {job.job_id}") from exc
            # A retry of a put that landed (its answer lost) finds the item it wrote.
            stored = getattr(exc, "response", {}).get("Item") or {}
            return stored.get("version") == item["version"] and stored.get("job") == item["job"]
        return True

    def _scan(self, states: Iterable[JobState], claim: ClaimFilter | None = None,
              limit: int | None = None) -> Iterator[Versioned]:
        names = {"#s": "state"}
        values: dict[str, dict[str, str]] = {}
        filters = []
        if claim is not None and claim.target is not None:
            filters.append("#t = :t")
            names["#t"] = "target"
            values[":t"] = {"S": claim.target}
        if claim is not None and claim.builds is not None:
            if not claim.builds:
                return iter(())
            if len(claim.builds) <= MAX_FILTERED_BUILDS:
                names.update({"#d": "dialect", "#b": "build"})
                terms = []
                for i, (dialect, build) in enumerate(sorted(claim.builds)):
                    terms.append(f"(#d = :d{i} AND #b = :b{i})")
                    values.update({f":d{i}": {"S": dialect}, f":b{i}": {"S": build}})
                # DynamoDB rejects doubled parentheses: one pair's term goes in as it is.
                filters.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
        if claim is not None and claim.tiers is not None:
            if not claim.tiers:
                return iter(())
            names["#tier"] = "tier"
            tiers = [f":tier{i}" for i in range(len(claim.tiers))]
            values.update({name: {"S": tier} for name, tier in zip(tiers, sorted(claim.tiers), strict=True)})
            untiered = " OR attribute_not_exists(#tier)" if "tune" in claim.tiers else ""
            filters.append(f"(#tier IN ({', '.join(tiers)}){untiered})")
        found: list[Versioned] = []
        # One read per state, so that a long waiting list never hides an expired running job.
        for state in dict.fromkeys(states):
            query: dict[str, Any] = {
                "TableName": self.table, "IndexName": INDEX, "ScanIndexForward": True,
                "KeyConditionExpression": "#s = :s", "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {**values, ":s": {"S": state}}}
            if filters:
                query["FilterExpression"] = " AND ".join(filters)
            if limit is not None:
                query["Limit"] = limit  # items read per page; a filter may keep fewer, so read on
            items: list[dict[str, Any]] = []
            while limit is None or len(items) < limit:
                page = self._call("query", f"cannot list {state} jobs", **query)
                items.extend(page.get("Items", ()))
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            found.extend(self._decode(item) for item in items[:limit])
        found.sort(key=lambda one: claim_order(one[0]))
        return iter(found)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.close()
