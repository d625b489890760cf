"""Leave-network-out splits never leak a held-out network's workloads into training."""

from __future__ import annotations

import numpy as np
import pytest

from lorien.datasets.tabular import LogTable
from lorien.errors import InvalidInput
from lorien.training.cost_models import GradientBoostingCostModel
from lorien.training.evaluation import leave_network_out, network_split

NETWORKS = {
    "a": {"resnet18@1"}, "b": {"resnet18@1", "vgg16@1"}, "c": {"resnet18@4"},
    "d": {"vgg16@1"}, "e": {"bert@1"}, "f": {"bert@1"},
}


def make_table(rows_per_workload: int = 20) -> LogTable:
    rng = np.random.default_rng(0)
    keys = np.repeat(sorted(NETWORKS), rows_per_workload)
    features = rng.uniform(size=(len(keys), 4)).astype(np.float32)
    latency = np.exp(features[:, 0] * 2)
    best = {k: latency[keys == k].min() for k in NETWORKS}
    score = np.array([best[k] for k in keys]) / latency
    return LogTable(features=features, score=score, latency=latency,
                    failed=np.zeros(len(keys), bool), workload_keys=keys,
                    targets=np.full(len(keys), "cpu"))


def test_split_holds_out_the_whole_model_family() -> None:
    table = make_table(1)
    train, test = network_split(table, NETWORKS, "resnet18@1")
    assert set(table.workload_keys[test]) == {"a", "b"}
    assert set(table.workload_keys[train]) == {"d", "e", "f"}  # not c (resnet18@4), not b
    _, whole_model = network_split(table, NETWORKS, "resnet18")
    assert set(table.workload_keys[whole_model]) == {"a", "b", "c"}


def test_leave_network_out_reports_per_network() -> None:
    results = leave_network_out(make_table(), NETWORKS, lambda: GradientBoostingCostModel(max_iter=30),
                                ["bert@1", "vgg16@1"])
    assert [r.network for r in results] == ["bert@1", "vgg16@1"]
    assert results[0].test_workloads == 2 and results[0].metrics["pairwise_accuracy"] > 0.8


def test_unknown_network() -> None:
    with pytest.raises(InvalidInput, match="no logged workload"):
        leave_network_out(make_table(), NETWORKS, GradientBoostingCostModel, ["mobilenet@1"])


def test_variants_joined_by_plus_are_held_out_together() -> None:
    table = make_table(1)
    train, test = network_split(table, NETWORKS, "bert@1+vgg16")
    assert set(table.workload_keys[test]) == {"b", "d", "e", "f"}
    assert set(table.workload_keys[train]) == {"a", "c"}


def test_results_keep_their_predictions() -> None:
    [result] = leave_network_out(make_table(), NETWORKS, lambda: GradientBoostingCostModel(max_iter=30),
                                 ["vgg16"])
    assert len(result.predicted) == len(result.score) == len(result.groups) == result.test_rows
    assert set(result.groups) == {"b@cpu", "d@cpu"}


def test_each_cpu_is_held_out_in_turn_and_ranked_on_its_own() -> None:
    from lorien.training.evaluation import cpus_of, leave_cpu_out, random_pick, workload_weighted

    table = make_table()
    cpu_a = '{"kind":"llvm","mcpu":"a"}'
    twice = np.r_[table.workload_keys, table.workload_keys]
    table = LogTable(features=np.vstack([table.features, table.features]),
                     score=np.r_[table.score, table.score], latency=np.r_[table.latency, 3 * table.latency],
                     failed=np.r_[table.failed, table.failed], workload_keys=twice,
                     targets=np.array([cpu_a] * len(table) + ["other"] * len(table)))
    assert cpus_of(table) == ["a", "other"]
    # a workload on two CPUs is two groups: latencies never compare across CPUs
    assert len(set(table.groups)) == 2 * len(NETWORKS)
    results = leave_cpu_out(table, lambda: GradientBoostingCostModel(max_iter=30))
    assert [r.network for r in results] == ["a", "other"]
    assert all(r.test_rows == len(table) // 2 and r.train_rows == len(table) // 2 for r in results)
    assert all(r.metrics["top1"] > 0.8 for r in results)  # the features say it all, on either CPU
    floor = random_pick(table, "a", np.array([t == cpu_a for t in table.targets]))
    assert floor.metrics["top1"] < results[0].metrics["top1"] and floor.train_rows == 0
    assert workload_weighted([floor, results[0]])["top1"] == pytest.approx(
        (floor.metrics["top1"] + results[0].metrics["top1"]) / 2)


def test_results_scored_again_on_the_groups_with_search_picks() -> None:
    """Groups of adapted neighbours alone leave the goal's rows; the others score as before."""
    import dataclasses

    from lorien.training.evaluation import searched_groups, within_groups

    table = make_table()
    origins = np.where(np.isin(table.workload_keys, ["e"]), "neighbour", "search")
    origins[table.workload_keys == "d"] = "random"
    origins[np.flatnonzero(table.workload_keys == "d")[0]] = "search"  # a search and its samples
    table = dataclasses.replace(table, origins=origins)
    searched = searched_groups(table)
    assert set(table.workload_keys[searched]) == set(NETWORKS) - {"e"}
    assert searched_groups(make_table()).all()  # no origins recorded: every row
    [whole] = leave_network_out(table, NETWORKS, lambda: GradientBoostingCostModel(max_iter=30), ["bert"])
    kept = within_groups(whole, np.unique(table.groups[searched]))
    assert kept is not None and set(kept.groups) == {"f@cpu"} and kept.test_workloads == 1
    from lorien.training.metrics import ranking_report

    f_rows = whole.groups == "f@cpu"  # the same predictions, scored on the group alone
    assert whole.spread is not None and kept.spread is not None  # a model of tabular features
    expected = ranking_report(whole.predicted[f_rows], table.latency[table.workload_keys == "f"],
                              whole.groups[f_rows], spread=whole.spread[f_rows])
    assert "top5_spread" in expected
    assert kept.metrics == pytest.approx(expected, rel=1e-6)  # labels are float32
    assert within_groups(whole, np.array(["a@cpu"])) is None
