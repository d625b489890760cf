"""The log store interface: full tuning logs as immutable, content-addressed blobs.

A backend implements :class:`LogStore`; :mod:`lorien.testing.logstore_conformance` is the suite every backend
must pass. Logs are written once and never changed, so keys are derived from content
(:func:`log_key`) and a second ``put`` of the same log is a no-op.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from pathlib import PurePosixPath

from lorien.errors import InvalidInput
from lorien.records import content_hash

LOG_SUFFIX = ".jsonl.gz"


def log_key(dialect: str, workload_key: str, data: bytes) -> str:
    """The content-addressed key of a compressed tuning log: ``DIALECT/WORKLOAD/DIGEST.jsonl.gz``."""
    return f"{dialect}/{workload_key}/{content_hash(data.hex(), length=24)}{LOG_SUFFIX}"


def check_key(key: str) -> str:
    """``key`` when it is a relative ``/``-separated path without ``.``/``..`` parts.

    Raises:
        InvalidInput: a malformed key.
    """
    if not key or key.startswith("/") or any(p in ("..", ".") for p in PurePosixPath(key).parts):
        raise InvalidInput(f"invalid log key {key!r}")
    return key


class LogStore(abc.ABC):
    """Immutable blobs under ``/``-separated keys.

    Thread and process safety: ``put`` is atomic (a reader sees the whole blob or none), and any
    number of threads, processes or machines may put and get at once.

    Errors: a missing key raises :class:`lorien.errors.NotFound`; backend failures raise
    :class:`lorien.errors.StoreError`; a malformed key raises :class:`lorien.errors.InvalidInput`.
    """

    #: URI this store was opened from (``file:///...``, ``s3://...``).
    uri: str

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` (unchanged if the key exists) and return the key."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The blob under ``key``."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key``."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix``, sorted."""

    def close(self) -> None:
        """Release connections; the default has none."""
        return None
