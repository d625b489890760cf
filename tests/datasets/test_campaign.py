"""The tuning campaign: its plan, and resuming from the logs alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.datasets.campaign import measured_trials, pending, plan_campaign
from lorien.dialects import get_dialect
from lorien.errors import InvalidInput
from lorien.logstore import LocalLogStore, LogStore, log_key, read_logs
from lorien.records import Latency
from lorien.testing.factories import CPU_A, CPU_B, workload
from lorien.tuning_log import Measurement, TuningLog


def test_plan_dedupes_workloads_across_networks() -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    models = ["tests.tvm_models:small_mlp", "tests.tvm_models:small_conv", "tests.tvm_models:small_mlp"]
    plan = plan_campaign(dialect, target, models, [1])
    assert len(plan) == 2
    assert plan[0].networks == ("tests.tvm_models:small_mlp@1", "tests.tvm_models:small_mlp@1")
    assert plan[1].workload.name.startswith("conv2d(")


def _read(logs: LogStore) -> list[TuningLog]:
    return read_logs(logs, prefix="fake/")[0]


def _log(key: str, n: int, target=CPU_A, build: str = "b1") -> TuningLog:  # type: ignore[no-untyped-def]
    measurements = tuple(Measurement(f"s{i}", Latency((1e-3,))) for i in range(n))
    return TuningLog(workload(key), target, build, n, 0.0, 1.0, measurements)


def test_resume_counts_only_this_target_and_build(tmp_path: Path) -> None:
    logs = LocalLogStore(tmp_path)
    for log in (_log("aa", 40), _log("aa", 30), _log("bb", 64), _log("cc", 64, target=CPU_B),
                _log("dd", 64, build="b0")):
        data = log.to_bytes()
        logs.put(log_key("fake", log.workload.key, data), data)
    logs.put("fake/zz/broken.jsonl.gz", b"not a log")
    done = measured_trials(_read(logs), CPU_A, "b1")
    assert done == {"aa": 70, "bb": 64}
    from lorien.datasets.campaign import CampaignWorkload

    plan = [CampaignWorkload(workload(k), ("n@1",)) for k in ("aa", "bb", "cc", "dd")]
    assert [item.workload.key for item in pending(plan, done, 64)] == ["cc", "dd"]
    assert [item.workload.key for item in pending(plan, done, 70)] == ["bb", "cc", "dd"]


def test_manifests_merge_network_membership(tmp_path: Path) -> None:
    from lorien.datasets.campaign import CampaignWorkload, read_networks, write_manifest

    logs = LocalLogStore(tmp_path)
    write_manifest(logs, [CampaignWorkload(workload("aa"), ("resnet18@1",))])
    write_manifest(logs, [CampaignWorkload(workload("aa"), ("vgg16@1",)),
                          CampaignWorkload(workload("bb"), ("vgg16@1",))])
    logs.put("campaign/networks-broken.json", b"{not json")
    assert read_networks(logs) == {"aa": {"resnet18@1", "vgg16@1"}, "bb": {"vgg16@1"}}
    assert measured_trials(_read(logs), CPU_A, "b1") == {}


def test_a_finished_run_covers_its_budget_even_with_few_candidates(tmp_path: Path) -> None:
    logs = LocalLogStore(tmp_path)
    exhausted = TuningLog(workload("ee"), CPU_A, "b1", 64, 0.0, 1.0,
                          (Measurement("only", Latency((1e-3,))),))
    data = exhausted.to_bytes()
    logs.put(log_key("fake", "ee", data), data)
    assert measured_trials(_read(logs), CPU_A, "b1") == {"ee": 64}


def test_random_samples_and_the_search_are_counted_apart(tmp_path: Path) -> None:
    from lorien.datasets.campaign import CampaignWorkload, random_samples_measured

    logs = LocalLogStore(tmp_path)
    random = TuningLog(workload("aa"), CPU_A, "b1", 16, 0.0, 1.0,
                       tuple(Measurement(f"r{i}", Latency((2e-3,)), origin="random") for i in range(16)))
    for log in (_log("aa", 64), random, _log("bb", 64)):
        data = log.to_bytes()
        logs.put(log_key("fake", log.workload.key, data), data)
    assert measured_trials(_read(logs), CPU_A, "b1") == {"aa": 64, "bb": 64}
    sampled = random_samples_measured(_read(logs), CPU_A, "b1")
    assert sampled == {"aa": 16}
    plan = [CampaignWorkload(workload(k), ("n@1",)) for k in ("aa", "bb")]
    assert [item.workload.key for item in pending(plan, sampled, 16)] == ["bb"]


def test_neighbour_samples_are_counted_apart_from_random_samples_and_the_search(tmp_path: Path) -> None:
    from lorien.datasets.campaign import (
        log_kind,
        neighbour_samples_measured,
        random_samples_measured,
        search_logs,
        searched_workloads,
        summarize_logs,
    )

    logs = LocalLogStore(tmp_path)
    adapted = TuningLog(workload("aa"), CPU_A, "b1", 8, 0.0, 1.0, tuple(
        Measurement(f"a{i}", Latency((2e-3,)), origin="neighbour") for i in range(3)))
    random = TuningLog(workload("aa"), CPU_A, "b1", 16, 0.0, 1.0,
                       (Measurement("r0", Latency((2e-3,)), origin="random"),))
    tried = TuningLog(workload("bb"), CPU_A, "b1", 8, 0.0, 1.0, ())  # no neighbour adapted
    for log in (_log("aa", 64), random, adapted, tried):
        data = log.to_bytes()
        logs.put(log_key("fake", log.workload.key, data), data)
    read = _read(logs)
    assert sorted(map(log_kind, read)) == ["neighbour", "neighbour", "random", "search"]
    assert measured_trials(read, CPU_A, "b1") == {"aa": 64}
    assert random_samples_measured(read, CPU_A, "b1") == {"aa": 16}
    assert neighbour_samples_measured(read, CPU_A, "b1") == {"aa": 8, "bb": 8}  # budgets: 3 and 0 of 8
    assert search_logs(read) == [log for log in read if log_kind(log) == "search"]
    # adapted neighbours alone leave a kernel never searched: its jobs still go first
    assert searched_workloads(read) == {"aa"}
    assert searched_workloads([adapted, tried]) == set()
    total = summarize_logs(logs, "fake")["total"]
    assert (total["search_logs"], total["random_logs"], total["neighbour_logs"]) == (1, 1, 2)
    assert (total["random"], total["neighbour"], total["measurements"]) == (1, 3, 68)


def test_random_samples_are_drawn_the_same_way_again() -> None:
    """A resumed campaign re-draws the samples of a workload it was measuring when stopped: the
    same schedules (the draw is seeded by the workload key), each one distinct."""
    from lorien.dialects import CandidateOptions
    from lorien.tuner.sampling import sample_seed
    from tests.tvm_models import small_conv

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(small_conv()), target)
    options = CandidateOptions(samples=4, seed=sample_seed(use.workload))
    draws = [dialect.candidates(use.workload, target, [], None, options).schedules for _ in range(2)]
    assert draws[0] == draws[1] and len(set(draws[0])) == 4


def test_jobs_ask_only_for_what_the_logs_lack() -> None:
    from lorien.datasets.campaign import CampaignWorkload, campaign_specs

    plan = [CampaignWorkload(workload(k), ("n@1",)) for k in ("aa", "bb", "cc", "dd")]
    specs = campaign_specs(plan, "fake", CPU_A, "b1", searched={"aa": 64, "bb": 32, "cc": 8},
                           sampled={"aa": 16, "cc": 16, "dd": 4}, trials=32, random_samples=16,
                           remeasure=4)
    assert [(s.workload_key, s.trials, s.random_samples) for s in specs] == [
        ("bb", 0, 16), ("cc", 32, 0), ("dd", 32, 16)]
    assert all(s.remeasure == 4 and s.target == CPU_A and s.build == "b1" for s in specs)
    assert [s.priority for s in specs] == [3, 2, 1]  # the plan's order, first planned first
    known = campaign_specs(plan, "fake", CPU_A, "b1", searched={}, sampled={}, trials=32,
                           random_samples=16, remeasure=0, known={"aa", "cc"})
    assert [s.priority for s in known] == [4, 3 + 4, 2, 1 + 4]  # kernels new to the data set first
    assert campaign_specs(plan, "fake", CPU_A, "b1", searched={}, sampled={}, trials=32,
                          random_samples=0, remeasure=0)[0].random_samples == 0
    # a data set complete but for the adapted neighbours: jobs of neighbour samples alone
    complete = {k: 32 for k in ("aa", "bb", "cc", "dd")}
    adapting = campaign_specs(plan, "fake", CPU_A, "b1", searched=complete, sampled=complete, trials=32,
                              random_samples=16, remeasure=4, neighboured={"bb": 8}, neighbour_samples=8)
    assert [(s.workload_key, s.trials, s.random_samples, s.neighbour_samples) for s in adapting] == [
        ("aa", 0, 0, 8), ("cc", 0, 0, 8), ("dd", 0, 0, 8)]
    assert adapting[0].budget_text == "8 neighbour samples"
    with pytest.raises(InvalidInput):
        campaign_specs(plan, "fake", CPU_A, "b1", searched={}, sampled={}, trials=32, random_samples=16,
                       remeasure=0, neighbour_samples=-1)


def test_the_manifest_matches_the_shipped_logs() -> None:
    import json

    from lorien.datasets.campaign import SUMMARY_KEY, read_networks, summarize_logs
    from lorien.datasets.seed import tuning_logs_dir
    from lorien.logstore import read_logs

    logs = LocalLogStore(tuning_logs_dir())
    shipped = json.loads(logs.get(SUMMARY_KEY))
    assert summarize_logs(logs) == shipped, "rewrite it: lorien campaign --summary-only --logs ..."
    assert shipped["unreadable_logs"] == 0 and shipped["unreadable_lines"] == 0
    assert sum(cpu["measurements"] for cpu in shipped["cpus"].values()) == shipped["total"]["measurements"]
    # every logged workload is placed in its networks by a plan's manifest
    networks = read_networks(logs)
    logged = {log.workload.key for log in read_logs(logs, prefix="tvm/")[0]}
    assert logged <= networks.keys()


def test_search_kind_reads_the_log_and_dates_unrecorded_ones() -> None:
    import dataclasses

    from lorien.datasets.campaign import UNRECORDED_SEARCHES_WARM_FROM, search_kind, search_logs

    found = (Measurement("s", Latency((1e-3,))),)
    since = UNRECORDED_SEARCHES_WARM_FROM
    before = TuningLog(workload(), CPU_A, "b", 1, since - 1, since, found)
    after = dataclasses.replace(before, started_at=since + 1)
    assert (search_kind(before), search_kind(after)) == ("cold", "warm")
    assert search_kind(dataclasses.replace(after, search="cold")) == "cold"
    assert search_kind(dataclasses.replace(before, search="warm:m.json@0123456789ab")) == "warm"
    sampled = dataclasses.replace(before, measurements=(Measurement("r", Latency((1e-3,)), origin="random"),))
    assert search_kind(sampled) is None
    assert search_logs([before, after, sampled]) == [before, after]
    assert search_logs([before, after, sampled], "warm") == [after]


@pytest.mark.slow
def test_the_campaign_resumes_from_its_logs_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Searched, sampled, neighbours adapted and re-measured by a real worker; stopped after one
    workload, resumed on a fresh store and queue with only the logs, it measures the other two
    alone; then nothing."""
    import json

    from lorien.cli.main import main
    from lorien.datasets.campaign import log_kind
    from lorien.dialects.tvm.kernel_check import kernel_output_mismatch
    from lorien.logstore import read_logs

    logs_dir = tmp_path / "logs"
    base = ["campaign", "--logs", f"file://{logs_dir}", "--models", "tests.tvm_models:small_conv",
            "tests.tvm_models:small_conv_bn", "--batches", "1", "--trials", "2", "--random-samples", "3",
            "--neighbour-samples", "2", "--remeasure", "1", "--quiet"]
    assert main([*base, "--store", f"sqlite:///{tmp_path}/first.db", "--max-workloads", "1"]) == 0
    assert "queued 1 new" in capsys.readouterr().out
    assert main([*base, "--store", f"sqlite:///{tmp_path}/fresh.db"]) == 0
    out = capsys.readouterr().out
    assert "the logs hold 3 workloads, " in out and "(9 random samples)" in out
    assert ("1 complete; 2 to do (2 never searched on any CPU): 2 to search (2 trials), 2 to sample "
            "(3 random schedules), 2 to adapt neighbours' schedules (2)") in out
    assert "queued 2 new" in out
    logs = read_logs(LocalLogStore(logs_dir), prefix="tvm/")[0]
    by_kind = sorted((log.workload.key, log_kind(log)) for log in logs)
    assert len(by_kind) == 9 and len({key for key, _ in by_kind}) == 3  # one of each per workload
    assert sorted(kind for _, kind in by_kind) == ["neighbour"] * 3 + ["random"] * 3 + ["search"] * 3
    for log in logs:
        assert log.machine is not None and log.machine["cores"] >= 1
        origins = {m.origin for m in log.measurements}
        assert origins <= {log_kind(log)}
        assert len({m.schedule for m in log.measurements}) == len(log.measurements)
        assert len(log.measurements) == {"random": 3, "search": 2, "neighbour": len(log.measurements)}[
            log_kind(log)] and len(log.measurements) <= log.trials
    # the first conv had no tuned neighbour to lend a schedule: its neighbour log is empty; the
    # second 3x3 conv was lent the first's best (and the 1x1 conv's, the same adapted schedule
    # once re-tiled); the 1x1 conv takes a 3x3 one's as its own trace re-tiled (no design space
    # of it samples as theirs does), postprocessed afresh: each computes what its kernel does
    adapted = sorted((log for log in logs if log_kind(log) == "neighbour"), key=lambda log: log.started_at)
    assert [len(log.measurements) for log in adapted] == [0, 1, 1]
    assert all(log.trials == 2 for log in adapted) and all(log.measurements[0].ok for log in adapted[1:])
    for log in adapted[1:]:
        assert kernel_output_mismatch(log.workload, log.measurements[0].schedule) is None
    # the fastest search pick of each workload was measured twice: its runs doubled
    for log in (log for log in logs if log.search is not None and log.succeeded):
        fastest = min(log.succeeded, key=lambda m: m.latency.min)  # type: ignore[union-attr]
        assert len(fastest.latency.runs) == 2 * 3  # type: ignore[union-attr]
    assert main([*base, "--summary-only"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total"]["workloads"] == 3 and summary["total"]["random"] == 9
    assert summary["total"]["neighbour"] == 2 and summary["total"]["neighbour_logs"] == 3
    assert main([*base, "--store", f"sqlite:///{tmp_path}/fresh.db", "--plan-only"]) == 0
    assert "3 complete; 0 to do" in capsys.readouterr().out
