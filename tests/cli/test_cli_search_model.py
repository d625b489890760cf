"""How searches start, and what measures, travels from the command line to the workers it starts."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from lorien.cli.tune import _worker_flags
from lorien.cli.worker import worker_config, worker_options
from lorien.dialects.tvm.search_model import SHIPPED_SEARCH_MODEL


def parse(*argv: str) -> argparse.Namespace:
    return worker_options().parse_args(list(argv))


def test_workers_start_warm_by_default_with_the_shipped_model() -> None:
    config = worker_config(parse())
    assert config.warm_start and config.search_model is None
    assert "--cold-start" not in _worker_flags(parse()) and "--search-model" not in _worker_flags(parse())


def test_cold_start_and_a_search_model_reach_the_workers(tmp_path: Path) -> None:
    assert not worker_config(parse("--cold-start")).warm_start
    assert "--cold-start" in _worker_flags(parse("--cold-start"))
    model = Path(shutil.copy(SHIPPED_SEARCH_MODEL, tmp_path / "model.json"))
    args = parse("--search-model", str(model))
    assert worker_config(args).search_model == model.resolve()
    flags = _worker_flags(args)
    assert flags[flags.index("--search-model") + 1] == str(model.resolve())
    # a worker started with those flags parses them back to the same configuration
    again = worker_config(worker_options().parse_args(flags))
    assert again.search_model == model.resolve() and again.warm_start


def test_the_cost_model_and_tune_only_reach_the_workers() -> None:
    assert "--cost-model" not in _worker_flags(parse()) and "--tune-only" not in _worker_flags(parse())
    flags = _worker_flags(parse("--cost-model", "mine:v2", "--tune-only"))
    again = worker_options().parse_args(flags)
    assert (again.cost_model, again.tune_only) == ("mine:v2", True)
