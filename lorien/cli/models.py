"""Loading the model a command names, and its workloads, with the chosen dialect."""

from __future__ import annotations

import argparse

from lorien.dialects import Dialect, get_dialect
from lorien.records import Target, WorkloadUse


def load_for_dialect(args: argparse.Namespace) -> tuple[Dialect, Target, object, object]:
    """The dialect, canonical target, the user's model (e.g. a TorchModel) and its loaded form."""
    from lorien.datasets.zoo import load_model

    dialect = get_dialect(args.dialect)
    target = dialect.parse_target(args.target)
    source = load_model(args.model, batch=args.batch)
    return dialect, target, source, dialect.load_model(source)


def extract_model(args: argparse.Namespace) -> tuple[Target, list[WorkloadUse]]:
    dialect, target, _, model = load_for_dialect(args)
    return target, dialect.extract(model, target)
