"""The workloads each zoo network lowers to, kept on disk so that a campaign restarts in seconds.

Planning a campaign lowers every network of the zoo at every batch size (a ``--plan-only`` start
over the 32 networks at batch 1 took 3 min 36 s on 2 cores shared with another job, 19 s with every
network read back from here), and a campaign restarts often: it is stopped while the machine
does other work and resumed from its logs. The workloads a network lowers to depend only on the
network's code, the lowering's code and options, the target and the compiler build, so each
``(model, batch)`` entry is content-addressed by all of them: the model's name and batch, the
target, the lowering, the build, the versions of the compiler and of PyTorch, and a fingerprint of
the source of the packages that build and lower the networks (:mod:`lorien.datasets` and
:mod:`lorien.dialects`). A change to any of them reads nothing stale; it lowers again. Only the
zoo's networks are kept (:func:`lorien.datasets.campaign.plan_campaign`): a user's
``module:function`` model is code the fingerprint does not cover.

Writes are atomic (a temporary file renamed), so processes may share a folder; an unreadable or
malformed entry is lowered again and overwritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from lorien.files import write_atomically
from lorien.records import Target, Workload, content_hash

#: The entry layout; a new one reads nothing written by the old.
PLAN_CACHE_FORMAT = "plan-cache-1"


@cache
def source_fingerprint() -> str:
    """A hash of the Python source of the packages that build and lower the zoo's networks."""
    import lorien.datasets
    import lorien.dialects

    digest = hashlib.sha256()
    for package in (lorien.datasets, lorien.dialects):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("torch", "apache-tvm"):
        try:
            found.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name}=none")
    return ",".join(found)


class PlanCache:
    """A folder of the workloads each ``(model, batch)`` lowered to. Thread and process safe
    (atomic renames); the caller owns the folder."""

    def __init__(self, folder: Path, fingerprint: str | None = None) -> None:
        """``fingerprint``: what the code that lowers is (:func:`source_fingerprint` and the
        libraries' versions when None; tests pass their own)."""
        self.folder = Path(folder)
        self.fingerprint = fingerprint if fingerprint is not None else (
            f"{source_fingerprint()}|{_library_versions()}")

    def _path(self, model: str, batch: int, target: Target, lowering: str, build: str) -> Path:
        key = content_hash(PLAN_CACHE_FORMAT, self.fingerprint, model, str(batch), target.canonical,
                           lowering, build, length=32)
        return self.folder / f"{key}.json"

    def workloads(self, model: str, batch: int, target: Target, lowering: str, build: str,
                  lower: Callable[[], Iterable[Workload]]) -> list[Workload]:
        """The workloads ``model`` at ``batch`` lowers to: read back, or ``lower()``ed and kept.

        Args:
            lowering: the lowering's options as text (``repr`` of the dialect's ``Lowering``, or
                ``"default"``).
            build: the compiler build (:meth:`lorien.dialects.Frontend.build_id`).
            lower: lowers the network; its exceptions propagate and nothing is kept.
        """
        path = self._path(model, batch, target, lowering, build)
        try:
            entries = json.loads(path.read_text())
            return [Workload.from_dict(entry) for entry in entries["workloads"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        found = list(lower())
        body = json.dumps({"model": model, "batch": batch, "target": target.canonical,
                           "workloads": [w.to_dict() for w in found]})
        try:
            write_atomically(path, lambda out: out.write(body.encode()))
        except OSError:  # a cache that cannot be written only costs time
            pass
        return found
