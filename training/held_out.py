"""A network's family held out of the shipped data set: the neighbour store and the ranker a
held-out benchmark answers with, as if the family had never been tuned."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lorien.config import data_dir, open_store
from lorien.datasets.campaign import read_networks
from lorien.datasets.seed import seed_store, tuning_logs_dir
from lorien.datasets.zoo import family_workloads
from lorien.dialects import Featurizer, get_dialect
from lorien.logstore import LocalLogStore
from lorien.records import content_hash
from lorien.store.base import ScheduleStore
from lorien.training.cost_models import LightGBMRankingCostModel
from lorien.training.pipeline import kept_ranker_without


@dataclass
class HeldOutFamily:
    """What is left when a network's family is held out.

    Attributes:
        network: the network whose family is held out.
        excluded: the workload keys of its family in the data set, left out of both below.
        store: every other workload's best schedules (the neighbours an instant answer adapts),
            a SQLite file kept in the work folder; the caller closes it.
        ranker: the shipped recipe fitted on every other workload's rows, kept in the work folder
            under its feature recipe's name.
    """

    network: str
    excluded: set[str]
    store: ScheduleStore
    ranker: LightGBMRankingCostModel


def hold_out_family(network: str, workdir: Path, logs_dir: Path | None = None,
                    progress: Callable[[str], object] = lambda _: None) -> HeldOutFamily:
    """Hold ``network``'s family out of the data set in ``logs_dir`` (the shipped one when None):
    its store and ranker are made in ``workdir`` the first time (minutes; ``progress`` is told
    which) and read back from it after. Not safe for two processes sharing ``workdir``."""
    logs = LocalLogStore(logs_dir or tuning_logs_dir())
    excluded = family_workloads(read_networks(logs), network)
    workdir.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{workdir / 'store.db'}")
    if not store.list_workloads():
        progress("seeding the neighbour store without the network's family")
        seed_store(store, logs_dir, exclude=excluded)
    # named by the features it reads: a ranker kept for another recipe is fitted anew, not read back
    recipe = content_hash(get_dialect("tvm", Featurizer).feature_version, length=8)
    kept = workdir / f"cost_model-{recipe}.txt"
    if not kept.exists():
        progress("training the ranker without the network's family")
    ranker = kept_ranker_without(kept, logs, excluded, data_dir() / "feature-cache")
    return HeldOutFamily(network, excluded, store, ranker)
