"""The embedded log store: one file per log under a local folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from lorien.errors import NotFound, StoreError
from lorien.files import write_atomically
from lorien.logstore.base import LogStore, check_key


class LocalLogStore(LogStore):
    """:class:`LogStore` on a folder. Writes go to a temporary file renamed into place (atomic on
    POSIX), so concurrent writers of the same key and readers are safe.

    Args:
        root: the folder; created when missing.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self.uri = f"file://{self.root}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create log folder {self.root}: {exc.strerror}") from exc

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*PurePosixPath(check_key(key)).parts)

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        if path.exists():
            return key
        try:
            write_atomically(path, lambda handle: handle.write(data), durable=True)
        except OSError as exc:
            raise StoreError(f"cannot write log {key} under {self.root}: {exc.strerror}") from exc
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no log {key!r} in {self.uri}") from None
        except OSError as exc:
            raise StoreError(f"cannot read log {key}: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        keys = sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )
        return (k for k in keys if k.startswith(prefix))
