"""Loading the model a command names, and its workloads, with the chosen dialect."""

from __future__ import annotations

import argparse
from typing import TypeVar

from lorien.dialects import Dialect, Frontend, get_dialect
from lorien.errors import NotFound
from lorien.records import Target, Workload, WorkloadUse
from lorien.store.base import ScheduleStore

F = TypeVar("F", bound=Frontend)


def load_for_dialect(args: argparse.Namespace, role: type[F]) -> tuple[F, Target, object, object]:
    """The dialect (as ``role``, a :class:`~lorien.dialects.Frontend` or more), canonical target,
    the user's model (e.g. a TorchModel) and its loaded form.

    Raises:
        InvalidInput: the dialect does not play ``role``; an unknown model or target.
    """
    from lorien.datasets.zoo import load_model

    dialect = get_dialect(args.dialect, role)
    target = dialect.parse_target(args.target)
    source = load_model(args.model, batch=args.batch)
    return dialect, target, source, dialect.load_model(source)


def extract_model(args: argparse.Namespace) -> tuple[Target, list[WorkloadUse]]:
    from lorien.cli.common import lowering_of

    dialect, target, _, model = load_for_dialect(args, Frontend)
    return target, dialect.extract(model, target, lowering_of(args))


def stored_workloads(store: ScheduleStore, dialect: Dialect, keys: list[str]) -> list[Workload]:
    """The stored workloads ``--workload KEY`` names, in order.

    Raises:
        NotFound: a key the store does not hold.
    """
    workloads = []
    for key in keys:
        workload = store.get_workload(dialect.name, key)
        if workload is None:
            raise NotFound(f"no workload {key!r} in {store.uri}; run 'lorien extract' first")
        workloads.append(workload)
    return workloads
