"""The production schedule store: two DynamoDB tables shared by every tuner, trainer and server.

Key schema, designed for the queries Lorien makes:

* ``PREFIX-records``: one item per group (workload, target, build, source), the unit the best-N
  rule works on. Partition key ``wk`` = workload key; sort key ``grp`` =
  ``LOOSE_TARGET#TARGET_HASH#BUILD#SOURCE``. A workload's best schedules for an exact target are a
  ``Query`` on ``wk`` with ``begins_with(grp, "LOOSE#HASH#")``; for a loose target (any
  ``llvm_cpu``) ``begins_with(grp, "LOOSE#")``; both paginated. The item holds the group's
  records (at most ``keep``) as one zlib-compressed JSON blob, plus ``version``, ``n`` (record
  count, for cheap counts), and the group's plain attributes for filters.
* ``PREFIX-workloads``: partition key ``dialect``, sort key ``key``; listing a dialect is a
  ``Query``; payloads are zlib-compressed.

Concurrency: a commit reads the groups it touches (strongly consistent), merges with
:func:`lorien.records.best_per_group`, and writes every changed group in one
``TransactWriteItems`` whose conditions require each item's ``version`` to be the one read (or
the item to be absent); a commit that changes a single group (the tuner's usual case) writes it
with one conditional ``PutItem``, atomic on its own and half a transaction's write cost. A
concurrent writer makes the write fail as a whole, and the commit is read and merged again
(backoff with jitter), so no update is lost and no group ever holds more than ``keep`` records
or a duplicate. Throttling and transient errors are retried by botocore
(:mod:`lorien.aws`). A commit touching more than :data:`GROUPS_PER_TRANSACTION` groups is written
in several transactions, each atomic.

Limits: an item must stay under DynamoDB's 400 KB. Schedules whose compressed form is larger than
:data:`INLINE_LIMIT`, and such workload payloads, go to the ``blobs`` log store (``blobs=s3://...``
in the URI) under a content-addressed key, with a pointer in the item; without ``blobs`` such a
commit is refused with a clear error. Batch writes send at most 25 items, batch reads 100 keys.
"""

from __future__ import annotations

import json
import random
import sys
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from lorien.aws import aws_error, error_code, make_client, parse_aws_uri
from lorien.errors import InvalidInput, StoreError
from lorien.logstore.base import LogStore
from lorien.records import (
    RECORD_SOURCES,
    Latency,
    RecordSource,
    ScheduleRecord,
    Target,
    Workload,
    WorkloadSummary,
    best_per_group,
    content_hash,
)
from lorien.store.base import CommitResult, GroupSummary, ScheduleStore, TargetMatch, check_top_k, lookup_rank

#: Compressed schedules or payloads larger than this go to the blob store.
INLINE_LIMIT = 48 * 1024
#: Items larger than this are refused before DynamoDB would (its limit is 400 KB).
ITEM_LIMIT = 390 * 1024
#: Groups written in one transaction (DynamoDB allows 100 items and 4 MB).
GROUPS_PER_TRANSACTION = 8
#: Times a commit is read, merged and written again after losing a race.
CONFLICT_RETRIES = 40
_BATCH_WRITE = 25
_BATCH_GET = 100


def table_names(prefix: str) -> tuple[str, str]:
    """The (records, workloads) table names of a prefix."""
    return f"{prefix}-records", f"{prefix}-workloads"


def _target_prefix(target: Target) -> str:
    """The start of the sort key of every group of ``target``: ``LOOSE#TARGET_HASH#``."""
    return f"{target.loose_key}#{content_hash(target.canonical)}#"


def _group_key(rec: ScheduleRecord | GroupSummary) -> str:
    return f"{_target_prefix(rec.target)}{rec.build}#{rec.source}"


class DynamoDBScheduleStore(ScheduleStore):
    """:class:`ScheduleStore` on DynamoDB. See the module docstring for the schema and the
    concurrency scheme. Thread safe: one boto3 client, shared.

    Args:
        uri: ``dynamodb://TABLE_PREFIX?region=R&endpoint_url=URL&keep=N&blobs=s3://bucket/prefix``.
        blobs: the log store that the URI's ``blobs`` names, opened by the caller
            (:func:`lorien.config.open_store` does it); the store owns it and closes it.
        check_tables: verify on open that both tables exist (a clear error otherwise).

    Raises:
        InvalidInput: a malformed URI, or one that names a blob store when none is given.
        StoreError: a table is missing, or credentials are missing or rejected.
    """

    def __init__(self, uri: str, *, blobs: LogStore | None = None, check_tables: bool = True) -> None:
        prefix, path, options = parse_aws_uri(uri, "dynamodb", extra=("keep", "blobs"))
        if path:
            raise InvalidInput(f"{uri!r}: a dynamodb URI names a table prefix, not a path")
        try:
            self.keep = int(options.get("keep", "5"))
        except ValueError:
            raise InvalidInput(f"{uri!r}: keep must be an integer, got {options['keep']!r}") from None
        if self.keep < 1:
            raise InvalidInput(f"keep must be at least 1, got {self.keep}")
        self.uri = uri
        self.prefix = prefix
        self.records_table, self.workloads_table = table_names(prefix)
        self._client = make_client("dynamodb", options)
        if options.get("blobs") and blobs is None:
            raise InvalidInput(f"{uri!r} names a blob store: open it with lorien.config.open_store, "
                               "or pass the opened log store as blobs=")
        self._blobs = blobs
        if check_tables:
            for table in (self.records_table, self.workloads_table):
                self._call("describe_table", f"table {table}", TableName=table)

    def create_tables(self) -> list[str]:
        """Create the two tables (on-demand billing) where missing and wait until they are active.
        Safe to run twice, and while other processes use the tables.

        Returns:
            The names of the tables created.
        """
        schemas = {self.records_table: (("wk", "HASH"), ("grp", "RANGE")),
                   self.workloads_table: (("dialect", "HASH"), ("key", "RANGE"))}
        created = []
        for table, keys in schemas.items():
            try:
                self._client.create_table(
                    TableName=table, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
                    AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
                )
                created.append(table)
            except Exception as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise aws_error(exc, f"{self.uri}: cannot create table {table}") from exc
        for table in schemas:
            try:
                self._client.get_waiter("table_exists").wait(TableName=table,
                                                             WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            except Exception as exc:
                raise aws_error(exc, f"{self.uri}: table {table} did not become active") from exc
        return created

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, operation: str, what: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except Exception as exc:
            raise aws_error(exc, f"{self.uri}: {what}") from exc

    def _pages(self, operation: str, what: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        try:
            yield from self._client.get_paginator(operation).paginate(**kwargs)
        except Exception as exc:
            raise aws_error(exc, f"{self.uri}: {what}") from exc

    def _pack(self, text: str, kind: str) -> dict[str, Any]:
        """A string as an inline compressed attribute, or a pointer to the blob store."""
        packed = zlib.compress(text.encode(), 6)
        if len(packed) <= INLINE_LIMIT:
            return {"z": packed}
        blobs = self._blobs
        if blobs is None:
            raise StoreError(f"{self.uri}: a {kind} of {len(packed)} compressed bytes does not fit a "
                             "DynamoDB item; add blobs=s3://bucket/prefix to the store URI")
        key = f"{kind}s/{content_hash(text, length=32)}.z"
        blobs.put(key, packed)
        return {"ref": key}

    def _unpack(self, packed: dict[str, Any]) -> str:
        if "ref" in packed:
            blobs = self._blobs
            if blobs is None:
                raise StoreError(f"{self.uri}: a record points to {packed['ref']} in a blob store; "
                                 "add blobs=s3://bucket/prefix to the store URI")
            return zlib.decompress(blobs.get(packed["ref"])).decode()
        return zlib.decompress(packed["z"]).decode()

    # -- workloads -------------------------------------------------------------------------------
    def put_workloads(self, workloads: Iterable[Workload]) -> int:
        new = 0
        for w in {(w.dialect, w.key): w for w in workloads}.values():
            payload = self._pack(w.payload, "payload")
            item = {"dialect": {"S": w.dialect}, "key": {"S": w.key}, "name": {"S": w.name},
                    "flops": {"N": repr(float(w.flops))}, "created_at": {"N": repr(time.time())},
                    **({"payload": {"B": payload["z"]}} if "z" in payload else
                       {"payload_ref": {"S": payload["ref"]}})}
            try:
                self._client.put_item(TableName=self.workloads_table, Item=item,
                                      ConditionExpression="attribute_not_exists(#k)",
                                      ExpressionAttributeNames={"#k": "key"})
                new += 1
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise aws_error(exc, f"{self.uri}: cannot store workload {w.key}") from exc
        return new

    def _workload(self, item: dict[str, Any]) -> Workload:
        packed = {"z": item["payload"]["B"]} if "payload" in item else {"ref": item["payload_ref"]["S"]}
        return Workload(dialect=item["dialect"]["S"], key=item["key"]["S"], name=item["name"]["S"],
                        flops=float(item["flops"]["N"]), payload=self._unpack(packed))

    def get_workload(self, dialect: str, key: str) -> Workload | None:
        found = self._call("get_item", f"cannot read workload {key}", TableName=self.workloads_table,
                           Key={"dialect": {"S": dialect}, "key": {"S": key}}, ConsistentRead=True)
        return self._workload(found["Item"]) if "Item" in found else None

    def list_workloads(self, dialect: str | None = None) -> list[Workload]:
        if dialect is not None:
            pages = self._pages("query", "cannot list workloads", TableName=self.workloads_table,
                                ConsistentRead=True, KeyConditionExpression="dialect = :d",
                                ExpressionAttributeValues={":d": {"S": dialect}})
        else:
            pages = self._pages("scan", "cannot list workloads", TableName=self.workloads_table,
                                ConsistentRead=True)
        found = [self._workload(item) for page in pages for item in page.get("Items", ())]
        return sorted(found, key=lambda w: (w.key, w.dialect))

    def workload_summaries(self, dialect: str, since: float | None = None) -> list[WorkloadSummary]:
        """One Query of the dialect's partition, projected to what a summary holds: no payload
        read or fetched from the blob store (a filter on ``since`` still reads each item)."""
        kwargs: dict[str, Any] = {
            "TableName": self.workloads_table, "ConsistentRead": True,
            "KeyConditionExpression": "dialect = :d", "ExpressionAttributeValues": {":d": {"S": dialect}},
            "ProjectionExpression": "dialect, #k, #n, flops, created_at",
            "ExpressionAttributeNames": {"#k": "key", "#n": "name"}}
        if since is not None:
            kwargs["FilterExpression"] = "created_at >= :t"
            kwargs["ExpressionAttributeValues"][":t"] = {"N": repr(float(since))}
        found = [WorkloadSummary(item["dialect"]["S"], item["key"]["S"], item["name"]["S"],
                                 float(item["flops"]["N"]), float(item.get("created_at", {"N": "0"})["N"]))
                 for page in self._pages("query", "cannot list workloads", **kwargs)
                 for item in page.get("Items", ())]
        return sorted(found, key=lambda w: w.key)

    # -- groups ----------------------------------------------------------------------------------
    def _decode_group(self, item: dict[str, Any]) -> list[ScheduleRecord]:
        target = Target(canonical=item["target"]["S"], loose_key=item["loose"]["S"])
        rows = json.loads(zlib.decompress(item["records"]["B"]))
        return [ScheduleRecord(
            dialect=item["dialect"]["S"], workload_key=item["wk"]["S"], target=target,
            build=item["build"]["S"],
            schedule=row["schedule"] if isinstance(row["schedule"], str) else self._unpack(row["schedule"]),
            latency=Latency(runs=tuple(float(r) for r in row["runs"])), source=item["source"]["S"],
            created_at=row["created_at"],
            log_ref=row.get("log_ref"),
        ) for row in rows]

    def _encode_group(self, records: Sequence[ScheduleRecord], version: int) -> dict[str, Any]:
        """The item of a group; its records are stored fastest first (ties by record id)."""
        records = sorted(records, key=lambda r: (r.latency.mean, r.record_id))
        first = records[0]
        rows = []
        for rec in records:
            packed = self._pack(rec.schedule, "schedule")  # the blob is compressed as a whole
            rows.append({"schedule": rec.schedule if "z" in packed else packed,
                         "runs": list(rec.latency.runs), "created_at": rec.created_at,
                         "log_ref": rec.log_ref})
        blob = zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 6)
        if len(blob) > ITEM_LIMIT:
            raise StoreError(f"{self.uri}: the best {len(records)} records of workload "
                             f"{first.workload_key} need {len(blob)} bytes, over DynamoDB's item limit; "
                             "lower keep")
        return {
            "wk": {"S": first.workload_key}, "grp": {"S": _group_key(first)},
            "dialect": {"S": first.dialect}, "target": {"S": first.target.canonical},
            "loose": {"S": first.target.loose_key}, "build": {"S": first.build},
            "source": {"S": first.source}, "version": {"N": str(version)},
            "n": {"N": str(len(records))}, "best": {"N": repr(records[0].latency.mean)},
            "records": {"B": blob},
        }

    def _read_groups(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items of the given (wk, grp) keys that exist, read strongly consistently."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH_GET):
            pending: list[dict[str, Any]] = [{"wk": {"S": wk}, "grp": {"S": grp}}
                                             for wk, grp in keys[start:start + _BATCH_GET]]
            for attempt in range(CONFLICT_RETRIES):
                if not pending:
                    break
                response = self._call("batch_get_item", "cannot read records", RequestItems={
                    self.records_table: {"Keys": pending, "ConsistentRead": True}})
                for item in response.get("Responses", {}).get(self.records_table, ()):
                    found[(item["wk"]["S"], item["grp"]["S"])] = item
                pending = response.get("UnprocessedKeys", {}).get(self.records_table, {}).get("Keys", [])
                if pending:
                    _backoff(attempt)
            if pending:
                raise StoreError(f"{self.uri}: DynamoDB kept {len(pending)} reads unprocessed; try again")
        return found

    # -- records ---------------------------------------------------------------------------------
    def commit(self, records: Sequence[ScheduleRecord]) -> CommitResult:
        if not records:
            return CommitResult(kept=0, dropped=0)
        by_group: dict[tuple[str, str], list[ScheduleRecord]] = {}
        for rec in records:
            by_group.setdefault((rec.workload_key, _group_key(rec)), []).append(rec)
        keys = sorted(by_group)
        stored: dict[str, float] = {}
        for start in range(0, len(keys), GROUPS_PER_TRANSACTION):
            chunk = keys[start:start + GROUPS_PER_TRANSACTION]
            stored.update(self._commit_groups({key: by_group[key] for key in chunk})[0])
        kept = sum(1 for rec in records if stored.get(rec.record_id) == rec.latency.mean)
        return CommitResult(kept=kept, dropped=len(records) - kept)

    def _commit_groups(self, new: dict[tuple[str, str], list[ScheduleRecord]], keep: int | None = None,
                       drop: frozenset[str] = frozenset()) -> tuple[dict[str, float], int]:
        """Merge ``new`` into its groups, keeping the best ``keep`` (the store's own by default)
        of those not in ``drop`` (record ids), in one conditional write, retrying lost races.

        Returns:
            The stored latency of every record now in those groups, and how many records that
            were stored before are gone.
        """
        keep = self.keep if keep is None else keep
        for attempt in range(CONFLICT_RETRIES):
            current = self._read_groups(list(new))
            writes, stored, removed = [], {}, 0
            for key, incoming in new.items():
                item = current.get(key)
                existing = self._decode_group(item) if item else []
                merged = best_per_group([*(r for r in existing if r.record_id not in drop), *incoming], keep)
                stored.update({r.record_id: r.latency.mean for r in merged})
                if _fingerprint(merged) == _fingerprint(existing):
                    continue
                removed += len({r.record_id for r in existing} - {r.record_id for r in merged})
                version = int(item["version"]["N"]) if item else 0
                if not merged and item:  # every record of the group dropped: the item goes
                    writes.append({"Delete": {"TableName": self.records_table,
                                              "Key": {"wk": item["wk"], "grp": item["grp"]},
                                              "ConditionExpression": "version = :v",
                                              "ExpressionAttributeValues": {":v": {"N": str(version)}}}})
                    continue
                put: dict[str, Any] = {"TableName": self.records_table,
                                       "Item": self._encode_group(merged, version + 1)}
                if item:
                    put["ConditionExpression"] = "version = :v"
                    put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
                else:
                    put["ConditionExpression"] = "attribute_not_exists(wk)"
                writes.append({"Put": put})
            if not writes:
                return stored, 0
            try:
                if len(writes) == 1:  # one item: a conditional write is atomic and costs half a transaction
                    if "Put" in writes[0]:
                        self._client.put_item(**writes[0]["Put"])
                    else:
                        self._client.delete_item(**writes[0]["Delete"])
                else:
                    self._client.transact_write_items(TransactItems=writes)
                return stored, removed
            except Exception as exc:
                if error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException",
                                           "ConditionalCheckFailedException"):
                    raise aws_error(exc, f"{self.uri}: commit failed") from exc
                reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons", ())]
                if any(code not in _RETRYABLE_CANCELLATIONS for code in reasons):
                    why = ", ".join(map(str, reasons))
                    raise aws_error(exc, f"{self.uri}: commit failed ({why})") from exc
                _backoff(attempt)
        raise StoreError(f"{self.uri}: commit lost {CONFLICT_RETRIES} races in a row for the same "
                         "workloads; nothing of it was stored, try again")

    def _query_groups(self, workload_key: str, grp_prefix: str | None = None,
                      attributes: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.records_table, "ConsistentRead": True}
        if grp_prefix is None:
            kwargs["KeyConditionExpression"] = "wk = :wk"
            kwargs["ExpressionAttributeValues"] = {":wk": {"S": workload_key}}
        else:
            kwargs["KeyConditionExpression"] = "wk = :wk AND begins_with(grp, :g)"
            kwargs["ExpressionAttributeValues"] = {":wk": {"S": workload_key}, ":g": {"S": grp_prefix}}
        kwargs.update(_projection(attributes))
        for page in self._pages("query", f"cannot read records of {workload_key}", **kwargs):
            yield from page.get("Items", ())

    def top_k(
        self,
        workload_key: str,
        target: Target,
        k: int = 1,
        *,
        match: TargetMatch = "exact",
        build: str | None = None,
        source: RecordSource | None = None,
    ) -> list[ScheduleRecord]:
        check_top_k(k, match)
        prefix = _target_prefix(target) if match == "exact" else f"{target.loose_key}#"
        found = [rec for item in self._query_groups(workload_key, prefix)
                 if (build is None or item["build"]["S"] == build)
                 and (source is None or item["source"]["S"] == source)
                 for rec in self._decode_group(item)]
        found.sort(key=lambda r: (RECORD_SOURCES.index(r.source), r.latency.mean, r.record_id))
        return found[:k]

    def lookup(self, workload_keys: Sequence[str], target: Target, build: str) -> ScheduleRecord | None:
        found = [rec for key in dict.fromkeys(workload_keys)
                 for item in self._query_groups(key, f"{target.loose_key}#")
                 for rec in self._decode_group(item)]
        return min(found, key=lambda r: lookup_rank(r, target, build), default=None)

    def _group_items(self, dialect: str | None, workload_key: str | None, target: Target | None,
                     build: str | None, attributes: Sequence[str] | None) -> Iterator[dict[str, Any]]:
        if workload_key is not None:
            prefix = _target_prefix(target) if target is not None else None
            items: Iterable[dict[str, Any]] = self._query_groups(workload_key, prefix, attributes)
        else:
            kwargs: dict[str, Any] = {"TableName": self.records_table, "ConsistentRead": True,
                                      **_projection(attributes)}
            items = (item for page in self._pages("scan", "cannot scan records", **kwargs)
                     for item in page.get("Items", ()))
        for item in items:
            if ((dialect is None or item["dialect"]["S"] == dialect)
                    and (target is None or item["target"]["S"] == target.canonical)
                    and (build is None or item["build"]["S"] == build)):
                yield item

    def records(
        self,
        *,
        dialect: str | None = None,
        workload_key: str | None = None,
        target: Target | None = None,
        build: str | None = None,
    ) -> Iterator[ScheduleRecord]:
        """Records in the SQLite backend's order, fetching groups a batch at a time (memory grows
        with the number of groups, not with the records' size)."""
        index = sorted(
            (tuple(i[a]["S"] for a in ("wk", "target", "build", "source")), (i["wk"]["S"], i["grp"]["S"]))
            for i in self._group_items(dialect, workload_key, target, build, _INDEX_ATTRIBUTES))
        for start in range(0, len(index), _BATCH_GET):
            keys = [key for _, key in index[start:start + _BATCH_GET]]
            items = self._read_groups(keys)
            for key in keys:
                if key in items:
                    yield from self._decode_group(items[key])  # stored fastest first

    def count(
        self,
        *,
        dialect: str | None = None,
        workload_key: str | None = None,
        target: Target | None = None,
        build: str | None = None,
    ) -> int:
        return sum(int(item["n"]["N"]) for item in
                   self._group_items(dialect, workload_key, target, build, _COUNT_ATTRIBUTES))

    def delete(
        self,
        workload_key: str,
        *,
        target: Target | None = None,
        build: str | None = None,
    ) -> int:
        items = list(self._group_items(None, workload_key, target, build, _COUNT_ATTRIBUTES))
        deleted = 0
        for item in items:
            self._call("delete_item", f"cannot delete records of {workload_key}",
                       TableName=self.records_table, Key={"wk": item["wk"], "grp": item["grp"]})
            deleted += int(item["n"]["N"])
        return deleted

    def delete_records(self, records: Sequence[ScheduleRecord]) -> int:
        groups = sorted({(rec.workload_key, _group_key(rec)) for rec in records})
        ids = frozenset(rec.record_id for rec in records)
        # no trimming beyond the records named: a group keeps the rest even above the store's keep
        return sum(self._commit_groups({group: []}, keep=sys.maxsize, drop=ids)[1] for group in groups)

    def groups(self) -> Iterator[GroupSummary]:
        items = self._group_items(None, None, None, None, _SUMMARY_ATTRIBUTES)
        summaries = [GroupSummary(i["dialect"]["S"], i["wk"]["S"], Target(i["target"]["S"], i["loose"]["S"]),
                                  i["build"]["S"], i["source"]["S"], int(i["n"]["N"]), float(i["best"]["N"]))
                     for i in items]
        summaries.sort(key=lambda g: (g.workload_key, g.target.canonical, g.build, g.source))
        return iter(summaries)

    def prune(self, keep: int) -> int:
        if keep < 1:
            raise InvalidInput(f"keep must be at least 1, got {keep}")
        return sum(self._commit_groups({(group.workload_key, _group_key(group)): []}, keep)[1]
                   for group in self.groups() if group.records > keep)

    def close(self) -> None:
        if self._blobs is not None:
            self._blobs.close()
        self._client.close()


#: Why a transaction may be cancelled and simply tried again (None: that item was fine).
_RETRYABLE_CANCELLATIONS = (None, "None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError",
                            "ProvisionedThroughputExceeded")
_INDEX_ATTRIBUTES = ("wk", "grp", "dialect", "target", "build", "source")
_COUNT_ATTRIBUTES = ("wk", "grp", "dialect", "target", "build", "n")
_SUMMARY_ATTRIBUTES = ("wk", "grp", "dialect", "target", "loose", "build", "source", "n", "best")


def _projection(attributes: Sequence[str] | None) -> dict[str, Any]:
    """Query/Scan arguments projecting ``attributes`` (through placeholders: several of these
    names are DynamoDB reserved words)."""
    if not attributes:
        return {}
    return {"ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(attributes))),
            "ExpressionAttributeNames": {f"#p{i}": name for i, name in enumerate(attributes)}}


def _fingerprint(records: Sequence[ScheduleRecord]) -> list[tuple[str, float]]:
    return sorted((r.record_id, r.latency.mean) for r in records)


def _backoff(attempt: int) -> None:
    time.sleep(min(1.0, 0.01 * 2 ** min(attempt, 7)) * random.uniform(0.5, 1.5))
