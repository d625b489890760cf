"""One SQLite file shared by threads and processes: a connection per thread, WAL mode, and writes
in ``BEGIN IMMEDIATE`` transactions. The schedule store and the job queue both live in it.

Thread safety: each thread gets its own connection (created on first use), so any number of threads
may use one :class:`SQLiteFile`. Ownership: :meth:`close` closes every connection it opened.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lorien.errors import StoreError


class SQLiteFile:
    """Connections to one SQLite file.

    Args:
        path: the database file; its folder is created when missing.
        what: how errors name it (``store``, ``job queue``).
        busy_timeout_s: how long a writer waits for another process's transaction.

    Raises:
        StoreError: the folder cannot be created.
    """

    def __init__(self, path: Path, what: str, busy_timeout_s: float) -> None:
        self.path = path
        self.what = what
        self.uri = f"sqlite://{path}" if path.is_absolute() else f"sqlite:///{path}"
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of {path}: {exc.strerror}") from exc

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use).

        Raises:
            StoreError: closed, or the file cannot be opened.
        """
        if self._closed:
            raise StoreError(f"{self.what} {self.uri} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite {self.what} {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (the writer lock taken up front), committed on success and rolled
        back on any exception."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite {self.what} {self.path}: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StoreError(f"SQLite {self.what} {self.path}: commit failed: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement on this thread's connection (autocommit), failures as StoreError."""
        try:
            return self.connection().execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite {self.what} {self.path}: {exc}") from exc

    def create_schema(self, schema: str,
                      then: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Run ``schema``'s statements, then ``then(conn)`` (a version check), in one transaction.

        Raises:
            StoreError: the file is not a SQLite database.
        """
        try:
            with self.transaction() as conn:
                for statement in schema.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if then is not None:
                    then(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable Lorien SQLite store: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._closed = True
