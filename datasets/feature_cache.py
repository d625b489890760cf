"""Feature rows of logged schedules kept on disk, so a data set is featurised once per recipe.

Extracting a schedule's features applies its trace and walks the kernel (about 40 ms each for TVM
on one core: 20 minutes for 30,000 measurements); evaluating several models, or training again
after a campaign added logs, reads them back instead. Entries are content-addressed by the recipe
(a feature version, or a compiler's own featurizer's name), the workload key, the target and the
schedules, so a stale entry cannot be read for other inputs. Writes are atomic (a temporary file
renamed), so processes may share a folder; an unreadable entry is computed again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lorien.files import write_atomically
from lorien.records import Target, Workload, content_hash

Rows = tuple[np.ndarray, np.ndarray]


class FeatureCache:
    """A folder of feature rows for one recipe. Thread and process safe (atomic renames)."""

    def __init__(self, folder: Path, recipe: str) -> None:
        self.folder = Path(folder)
        self.recipe = recipe

    def _path(self, workload: Workload, target: Target, schedules: Sequence[str]) -> Path:
        key = content_hash(self.recipe, workload.key, target.canonical, *schedules, length=32)
        return self.folder / key[:2] / f"{key}.npz"

    def has(self, workload: Workload, target: Target, schedules: Sequence[str]) -> bool:
        """Whether rows of these schedules are kept (not whether they read back)."""
        return self._path(workload, target, schedules).exists()

    def rows(self, workload: Workload, target: Target, schedules: Sequence[str],
             compute: Callable[[], Rows]) -> Rows:
        """``(rows, ok)`` of these schedules: read back, or ``compute()``d and kept."""
        path = self._path(workload, target, schedules)
        try:
            with np.load(path, allow_pickle=False) as saved:
                return _unpack(saved, len(schedules))
        except (OSError, ValueError, KeyError):
            pass
        rows, ok = compute()
        try:
            arrays = _pack(rows, ok)
            write_atomically(path, lambda out: np.savez_compressed(out, allow_pickle=False, **arrays))
        except OSError:  # a cache that cannot be written only costs time
            pass
        return rows, ok


def _pack(rows: np.ndarray, ok: np.ndarray) -> dict[str, np.ndarray]:
    """Plain arrays for ``np.savez`` (no pickles): a ragged object array of 2-D blocks is kept
    as the blocks stacked, with each block's number of rows."""
    if rows.dtype != object:
        return {"rows": rows, "ok": ok}
    blocks = [np.asarray(block, dtype=np.float32) for block in rows]
    width = next((b.shape[1] for b in blocks if b.ndim == 2 and b.shape[0]), 0)
    stacked = (np.concatenate([b.reshape(-1, width) for b in blocks]) if width
               else np.zeros((0, 0), np.float32))
    return {"stacked": stacked, "counts": np.array([b.shape[0] if b.ndim == 2 else 0 for b in blocks]),
            "ok": ok}


def _unpack(saved: np.lib.npyio.NpzFile, expected: int) -> Rows:
    ok = saved["ok"]
    if "rows" in saved:
        rows = saved["rows"]
    else:
        counts, stacked = saved["counts"], saved["stacked"]
        rows = np.empty(len(counts), dtype=object)
        starts = np.concatenate([[0], np.cumsum(counts)])
        for i in range(len(counts)):
            rows[i] = stacked[starts[i]:starts[i + 1]]
    if len(rows) != expected or len(ok) != expected:
        raise ValueError("cached rows do not match the schedules")
    return rows, ok.astype(bool)
