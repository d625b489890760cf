"""Where Lorien keeps things: store and log URIs from flags, environment and defaults.

Precedence for each location: the command-line flag, then the environment variable
(``LORIEN_STORE``, ``LORIEN_LOGS``), then a default under the user's data folder
(``$LORIEN_HOME``, else ``$XDG_DATA_HOME/lorien``, else ``~/.local/share/lorien``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lorien.errors import InvalidInput
from lorien.logstore import LocalLogStore, LogStore
from lorien.queue import JobQueue, SQLiteJobQueue
from lorien.store import ScheduleStore, SQLiteScheduleStore

STORE_ENV = "LORIEN_STORE"
LOGS_ENV = "LORIEN_LOGS"
HOME_ENV = "LORIEN_HOME"


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder that holds the default store and logs."""
    if environ.get(HOME_ENV):
        return Path(environ[HOME_ENV]).expanduser()
    xdg = environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "lorien"


def resolve_store_uri(flag: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The schedule store URI: ``flag``, else ``$LORIEN_STORE``, else the default SQLite file."""
    return flag or environ.get(STORE_ENV) or f"sqlite:///{data_dir(environ) / 'lorien.db'}"


def resolve_logs_uri(flag: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The log store URI: ``flag``, else ``$LORIEN_LOGS``, else the default local folder."""
    return flag or environ.get(LOGS_ENV) or f"file://{data_dir(environ) / 'logs'}"


def _local_path(uri: str, scheme: str) -> tuple[Path, dict[str, list[str]]]:
    parts = urlsplit(uri)
    if parts.scheme != scheme:
        raise InvalidInput(f"expected a {scheme}:// URI, got {uri!r}")
    if parts.netloc not in ("", "localhost"):
        raise InvalidInput(f"{uri!r}: a {scheme} URI names a local path: {scheme}:///absolute/path")
    if not parts.path or parts.path == "/":
        raise InvalidInput(f"{uri!r} has no path")
    path = parts.path
    if path.startswith("/~"):
        return Path(path[1:]).expanduser(), parse_qs(parts.query)
    return Path("/" + path.lstrip("/")), parse_qs(parts.query)


def open_store(uri: str, *, create: bool = False) -> ScheduleStore:
    """Open the schedule store a URI names.

    Supported: ``sqlite:///path/to/lorien.db[?keep=N]`` and
    ``dynamodb://TABLE_PREFIX[?region=R&endpoint_url=URL&keep=N&blobs=s3://bucket/prefix]``.

    Args:
        create: create what the backend lacks (DynamoDB tables; a SQLite file is always created).

    Raises:
        InvalidInput: unknown scheme or malformed URI.
        StoreError: the store cannot be opened (e.g. DynamoDB tables missing and not ``create``).
    """
    scheme = urlsplit(uri).scheme
    if scheme == "sqlite":
        path, query = _local_path(uri, "sqlite")
        return SQLiteScheduleStore(path, keep=_int_option(query, "keep", 5, uri))
    if scheme == "dynamodb":
        from lorien.store.dynamodb import DynamoDBScheduleStore

        blobs_uri = parse_qs(urlsplit(uri).query).get("blobs", [""])[-1]
        blobs = open_logs(blobs_uri) if blobs_uri else None
        try:
            store = DynamoDBScheduleStore(uri, blobs=blobs, check_tables=not create)
        except BaseException:
            if blobs is not None:
                blobs.close()
            raise
        if create:
            store.create_tables()
        return store
    raise InvalidInput(f"unsupported store URI {uri!r}: expected sqlite:///path or dynamodb://TABLE_PREFIX")


def open_queue(uri: str, *, create: bool = False) -> JobQueue:
    """Open the job queue that lives beside the schedule store a URI names: a ``jobs`` table in
    the same SQLite file, or ``PREFIX-jobs`` for ``dynamodb://PREFIX``.

    Args:
        create: create the DynamoDB table when missing.

    Raises:
        InvalidInput: unknown scheme or malformed URI.
        StoreError: the queue cannot be opened (e.g. the DynamoDB table is missing and not ``create``).
    """
    scheme = urlsplit(uri).scheme
    if scheme == "sqlite":
        path, _ = _local_path(uri, "sqlite")
        return SQLiteJobQueue(path)
    if scheme == "dynamodb":
        from lorien.queue.dynamodb import DynamoDBJobQueue

        queue = DynamoDBJobQueue(uri, check_table=not create)
        if create:
            queue.create_table()
        return queue
    raise InvalidInput(f"unsupported store URI {uri!r}: expected sqlite:///path or dynamodb://TABLE_PREFIX")


def open_logs(uri: str, *, create: bool = False) -> LogStore:
    """Open the log store a URI names. Supported: ``file:///folder`` and
    ``s3://bucket[/prefix][?region=R&endpoint_url=URL]``.

    Args:
        create: create the S3 bucket when missing (a folder is always created).

    Raises:
        InvalidInput: unknown scheme or malformed URI.
        StoreError: the folder cannot be created.
    """
    scheme = urlsplit(uri).scheme
    if scheme == "file":
        path, _ = _local_path(uri, "file")
        return LocalLogStore(path)
    if scheme == "s3":
        from lorien.logstore.s3 import S3LogStore

        logs = S3LogStore(uri)
        if create:
            logs.create_bucket()
        return logs
    raise InvalidInput(f"unsupported log URI {uri!r}: expected file:///folder or s3://bucket/prefix")


def _int_option(query: dict[str, list[str]], name: str, default: int, uri: str) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[-1])
    except ValueError:
        raise InvalidInput(f"{uri!r}: {name} must be an integer, got {values[-1]!r}") from None
