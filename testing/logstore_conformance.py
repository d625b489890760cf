"""The conformance suite every :class:`~lorien.logstore.LogStore` backend must pass.

A backend's test module subclasses :class:`LogStoreConformance` and provides a ``logs_uri``
fixture naming a fresh, empty log store.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from lorien.config import open_logs
from lorien.errors import InvalidInput, NotFound
from lorien.logstore import LogStore, log_key


class LogStoreConformance:
    @pytest.fixture
    def logs_uri(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError("a backend test module provides logs_uri")

    @pytest.fixture
    def logs(self, logs_uri: str) -> Iterator[LogStore]:
        store = open_logs(logs_uri)
        yield store
        store.close()

    def test_put_get_round_trip(self, logs: LogStore) -> None:
        data = bytes(range(256)) * 100
        key = log_key("fake", "00000000000000aa", data)
        assert logs.put(key, data) == key
        assert logs.get(key) == data
        assert logs.exists(key)

    def test_put_is_idempotent_for_content_addressed_keys(self, logs: LogStore) -> None:
        key = log_key("fake", "aa", b"one")
        logs.put(key, b"one")
        logs.put(key, b"one")
        assert list(logs.list()) == [key]

    def test_missing_key_is_not_found(self, logs: LogStore) -> None:
        assert not logs.exists("fake/none.jsonl.gz")
        with pytest.raises(NotFound):
            logs.get("fake/none.jsonl.gz")

    def test_list_by_prefix_sorted(self, logs: LogStore) -> None:
        keys = [log_key("fake", w, w.encode()) for w in ("bb", "aa", "ab")]
        for key in keys:
            logs.put(key, key.encode())
        assert list(logs.list()) == sorted(keys)
        assert list(logs.list("fake/a")) == sorted(k for k in keys if k.startswith("fake/a"))
        assert list(logs.list("other/")) == []

    @pytest.mark.parametrize("bad", ["", "/abs", "../up", "a/../../b"])
    def test_malformed_keys_are_rejected(self, logs: LogStore, bad: str) -> None:
        with pytest.raises(InvalidInput):
            logs.put(bad, b"x")

    def test_concurrent_puts_of_one_key(self, logs: LogStore) -> None:
        data = b"x" * 1_000_000
        key = log_key("fake", "cc", data)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: logs.put(key, data), range(16)))
        assert logs.get(key) == data
        assert list(logs.list()) == [key]
