"""Atomic file writes: a reader sees the old file or the whole new one, and a failed write leaves
nothing behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lorien.files import write_atomically


def test_a_write_replaces_the_file_whole_with_the_mode_asked_and_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "file.bin"
    write_atomically(path, lambda out: out.write(b"first"))
    assert path.read_bytes() == b"first" and stat.S_IMODE(path.stat().st_mode) == 0o644
    write_atomically(path, lambda out: out.write(b"second, longer"), durable=True, mode=0o600)
    assert path.read_bytes() == b"second, longer" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")

    def half_then_fail(out: object) -> None:
        out.write(b"half")  # type: ignore[attr-defined]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, half_then_fail)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["file.bin"]
    with pytest.raises(OSError):
        write_atomically(path / "under-a-file", lambda out: out.write(b"x"))
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
