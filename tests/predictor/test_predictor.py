"""The zero-shot predictor with the real TVM dialect, the shipped cost model and the shipped
tuned schedules as neighbours."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from lorien.datasets.seed import seed_store
from lorien.dialects import CandidateOptions, Dialect, get_dialect
from lorien.dialects.tvm.features import FEATURE_WIDTH
from lorien.errors import InvalidInput, TuningError
from lorien.lookup import find_schedule
from lorien.predictor import (
    BudgetedPredictor,
    BudgetOptions,
    CostModelScorer,
    PredictOptions,
    Ranked,
    ZeroShotPredictor,
    store_predictions,
)
from lorien.records import Latency, ScheduleRecord, Target, Workload, WorkloadUse
from lorien.store.sqlite import SQLiteScheduleStore
from lorien.training.cost_models import LightGBMRankingCostModel
from lorien.training.shipped import MODEL_TEXT, shipped_metadata
from tests.tvm_models import sampled_schedules, small_conv, small_mlp, stem_conv

FAST = PredictOptions(candidates=CandidateOptions(samples=16, evolve=True, population=16, generations=1,
                                                  seed=1))


@dataclass
class Setup:
    dialect: Dialect
    target: Target
    store: SQLiteScheduleStore
    predictor: ZeroShotPredictor
    conv: Workload
    mlp: Workload


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    store = SQLiteScheduleStore(tmp_path_factory.mktemp("predictor") / "s.db")
    seed_store(store)
    scorer = CostModelScorer(LightGBMRankingCostModel.from_text(MODEL_TEXT.read_text()), shipped_metadata(),
                             dialect, "shipped")
    conv, mlp = (dialect.extract(dialect.load_model(model()), target)[0].workload
                 for model in (small_conv, small_mlp))
    yield Setup(dialect, target, store, ZeroShotPredictor(store, scorer, FAST), conv, mlp)
    store.close()


def test_an_unseen_workload_gets_a_predicted_schedule_that_tuning_later_replaces(setup: Setup) -> None:
    prediction = setup.predictor.predict(setup.conv, setup.target)
    record = prediction.record
    assert record.source == "predicted" and record.target == setup.target
    assert record.build == setup.dialect.build_id() and record.latency.mean > 0
    assert not prediction.measured and len(prediction.neighbours) == 96  # offered; 8 adapted at most
    assert set(prediction.candidates) == {"neighbour", "evolved", "space"}
    assert 1 <= prediction.candidates["neighbour"] <= 8  # seeded convolutions adapted to the new shapes
    assert prediction.origin == "neighbour"  # adapted neighbours rank first
    setup.dialect.apply(setup.conv, record)  # a valid schedule of this very workload
    assert find_schedule(setup.store, setup.conv.key, setup.target, record.build) is None  # not stored
    store_predictions(setup.store, [setup.conv], [prediction])
    found = find_schedule(setup.store, setup.conv.key, setup.target, record.build)
    assert found is not None and found.record == record and not found.complete

    tuned = ScheduleRecord("tvm", setup.conv.key, setup.target, record.build,
                           sampled_schedules(setup.conv, setup.target, 1)[0], Latency((1.0,)))
    setup.store.commit([tuned])  # slower than the estimate, and still preferred: it was measured
    found = find_schedule(setup.store, setup.conv.key, setup.target, record.build)
    assert found is not None and found.record == tuned and found.complete
    assert setup.store.top_k(setup.conv.key, setup.target, 5, source="predicted") == [record]


def test_by_default_the_model_ranks_samples_and_neighbours_without_evolving(setup: Setup) -> None:
    options = PredictOptions(candidates=CandidateOptions(samples=16, seed=1))
    prediction = setup.predictor.predict(setup.conv, setup.target, options=options)
    assert set(prediction.candidates) == {"neighbour", "space"}
    setup.dialect.apply(setup.conv, prediction.record)
    ranked = setup.predictor.rank(setup.conv, setup.target, options)
    first_space = ranked.origins.index("space")
    assert set(ranked.origins[:first_space]) == {"neighbour"}
    assert "neighbour" not in ranked.origins[first_space:]
    by_score = setup.predictor.rank(setup.conv, setup.target, replace(options, neighbours_first=False))
    assert list(by_score.scores) == sorted(by_score.scores, reverse=True)
    # the four a caller will measure: spread over the model's first twelve, its first kept first
    spread = setup.predictor.rank(setup.conv, setup.target, replace(options, neighbours_first=False),
                                  spread=4)
    assert spread.schedules[0] == by_score.schedules[0] and len(spread.schedules) == len(by_score.schedules)
    assert set(spread.schedules[:4]) <= set(by_score.schedules[:12])
    assert set(spread.schedules) == set(by_score.schedules)


def test_measuring_the_top_candidates_returns_the_fastest_measured(setup: Setup) -> None:
    options = PredictOptions(candidates=FAST.candidates, measure_top_k=2, build_timeout_s=60,
                             run_timeout_s=60)
    prediction = setup.predictor.predict(setup.mlp, setup.target, options=options)
    assert prediction.measured and len(prediction.record.latency.runs) >= 1
    assert prediction.record.source == "measured"  # a measurement, kept apart from estimates
    assert prediction.record.latency.mean < 0.1
    assert setup.store.top_k(setup.mlp.key, setup.target, 1) == []  # predicting stores nothing


def test_an_unmeasured_answer_is_the_first_ranked_that_compiles_in_time(
        setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    stem = setup.dialect.extract(setup.dialect.load_model(stem_conv()), setup.target)[0].workload
    schedules = json.loads((Path(__file__).parents[1] / "data" / "stem_conv_schedules.json").read_text())
    quick, slow = (json.dumps(schedules[name]) for name in ("quick_to_build", "slow_to_build"))
    ranked = setup.predictor.rank(stem, setup.target).led_by([slow, quick], "neighbour")
    rank = setup.predictor.rank

    def slow_first(workload: Workload, *args: Any, **kwargs: Any) -> Ranked:
        return ranked if workload == stem else rank(workload, *args, **kwargs)

    monkeypatch.setattr(setup.predictor, "rank", slow_first)
    options = PredictOptions(build_check_timeout_s=5.0)
    [checked, mlp] = setup.predictor.predict_many([stem, setup.mlp], setup.target, options=options)
    assert checked.record.schedule == quick and checked.passed_over == 1 and checked.compiles
    assert mlp.compiles and mlp.passed_over == 0  # checked in the same call
    unchecked = setup.predictor.predict(stem, setup.target, options=replace(options, build_check=0))
    assert unchecked.record.schedule == slow and unchecked.passed_over == 0 and not unchecked.compiles
    with pytest.raises(TuningError, match=r"none of the first 1 candidates for .* compiled within 5 s: "
                                          r"build timed out after 5 s"):
        setup.predictor.predict(stem, setup.target, options=replace(options, build_check=1))


def test_neighbours_schedules_are_adapted_into_valid_schedules(setup: Setup) -> None:
    seeds = [setup.store.best(n.workload.key, setup.target, match="loose").schedule  # type: ignore[union-attr]
             for n in setup.predictor.index.nearest(setup.conv, setup.target, 4)]
    found = setup.dialect.candidates(setup.conv, setup.target, seeds, None,
                                     CandidateOptions(samples=0, evolve=False))
    assert 1 <= len(found) <= len(seeds) and set(found.origins) == {"neighbour"}
    assert found.features.shape == (len(found), FEATURE_WIDTH)
    for schedule in found.schedules:
        assert schedule not in seeds  # re-tiled for this workload's extents
        setup.dialect.apply(setup.conv, ScheduleRecord("tvm", setup.conv.key, setup.target, "b", schedule,
                                                       Latency((1.0,))))


def test_mutants_are_valid_new_schedules_one_decision_away(setup: Setup) -> None:
    seeds = sampled_schedules(setup.conv, setup.target, 2)
    options = CandidateOptions(samples=0, mutants=24, seed=7)
    found = setup.dialect.candidates(setup.conv, setup.target, seeds, None, options)
    mutants = [s for s, origin in zip(found.schedules, found.origins, strict=True) if origin == "mutant"]
    assert len(mutants) >= 4 and not set(mutants) & set(seeds)
    assert found.features.shape == (len(found), FEATURE_WIDTH)
    again = setup.dialect.candidates(setup.conv, setup.target, seeds, None, options)
    assert again.schedules == found.schedules  # the seed decides
    for schedule in mutants[:4]:
        setup.dialect.apply(setup.conv, ScheduleRecord("tvm", setup.conv.key, setup.target, "b", schedule,
                                                       Latency((1.0,))))


@pytest.mark.exclusive  # a budget of seconds must measure something
def test_a_budget_is_honoured_and_spent_where_the_model_s_time_goes(setup: Setup) -> None:
    """Real measurements on this machine: the heavier kernel gets the larger share and ends with
    a measured answer in the store; the whole delivery ends within the budget plus a round."""
    predictor = ZeroShotPredictor(setup.store, setup.predictor.scorer,
                                  PredictOptions(candidates=CandidateOptions(samples=8, seed=1)))
    budgeted = BudgetedPredictor(predictor, BudgetOptions(batch=2, ranked_rounds=1, mutants=16, seed=1))
    uses = [WorkloadUse(setup.conv, 1), WorkloadUse(setup.mlp, 4)]  # the MLP costs the model most
    # a budget shorter than the instant answers still gets them, measuring nothing; and this one
    # starts the measuring processes (seconds when cold), which the 10 s below is not about
    started = budgeted.deliver(uses, setup.target, 0.1, commit=False)
    assert [kernel.measured for kernel in started.kernels] == [0, 0]
    assert all(kernel.record.source == "predicted" for kernel in started.kernels if kernel.settled is None)
    report = budgeted.deliver(uses, setup.target, 10.0)
    assert report.seconds < 10.0 + 15.0, report  # a round is seconds; the first also waits for processes
    heavy, light = report.kernels
    assert heavy.workload == setup.mlp and heavy.share_s > light.share_s
    assert heavy.record.source == "measured" and heavy.measured >= 2
    found = find_schedule(setup.store, setup.mlp.key, setup.target, setup.dialect.build_id())
    assert found is not None and found.record == heavy.record and found.match == "exact"
    setup.dialect.apply(setup.mlp, heavy.record)


def test_a_cost_model_of_other_features_is_refused(setup: Setup) -> None:
    model = LightGBMRankingCostModel.from_text(MODEL_TEXT.read_text())
    with pytest.raises(InvalidInput, match="retrain"):
        CostModelScorer(model, {**shipped_metadata(), "feature_version": "old"}, setup.dialect)
    with pytest.raises(InvalidInput, match="dialect"):
        CostModelScorer(model, {**shipped_metadata(), "dialect": "other"}, setup.dialect)


def test_the_shipped_model_reads_back_without_pickle(tmp_path: Path) -> None:
    model = LightGBMRankingCostModel.from_text(MODEL_TEXT.read_text())
    assert model.n_features_in_ == FEATURE_WIDTH + 20
    with pytest.raises(InvalidInput, match="LightGBM"):
        LightGBMRankingCostModel.from_text("not a model")


def test_a_worker_runs_the_measuring_job_first_and_its_answer_replaces_the_predicted_one(
        setup: Setup, tmp_path: Path) -> None:
    """Real TVM, a real worker with the shipped cost model: of a kernel's two jobs the measuring
    one runs first (the tuning one was queued first, more urgent); the look-up then answers
    measured instead of predicted. (Tuned replacing measured, with ``lorien serve``'s worker:
    tests/serving/test_serve_process.py.)"""
    from lorien.config import open_logs, open_queue, open_store
    from lorien.jobs import JobSpec
    from lorien.predictor import JobMeasurer
    from lorien.tuner.worker import Worker, WorkerConfig

    uri = f"sqlite:///{tmp_path}/s.db"
    conv, target, build = setup.conv, setup.target, setup.dialect.build_id()
    with open_store(uri) as store, open_queue(uri) as queue:
        predictor = ZeroShotPredictor(store, setup.predictor.scorer,
                                      PredictOptions(candidates=CandidateOptions(samples=8, seed=1)))
        store_predictions(store, [conv], [predictor.predict(conv, target)])
        tune = JobSpec(dialect="tvm", workload_key=conv.key, workload_name=conv.name, target=target,
                       build=build, trials=2, priority=5)
        measure = JobSpec(dialect="tvm", workload_key=conv.key, workload_name=conv.name, target=target,
                          build=build, trials=3, tier="measure", seed=1)
        queue.enqueue([tune])
        queue.enqueue([measure])
        measurer = JobMeasurer(lambda name: predictor,
                               options=BudgetOptions(batch=2, ranked_rounds=1, mutants=16))
        worker = Worker(queue, store, open_logs(f"file://{tmp_path}/logs"),
                        WorkerConfig(poll_s=0.05, idle_exit_s=0.0, max_jobs=1), measurer=measurer)
        report = worker.run()
        assert report.done == [measure.job_id], report
        assert queue.get(tune.job_id).state == "waiting"  # type: ignore[union-attr]
        found = find_schedule(store, conv.key, target, build)
        assert found is not None and (found.match, found.record.source) == ("exact", "measured")
        result = queue.get(measure.job_id).result  # type: ignore[union-attr]
        assert result is not None and (result.measured, result.records) == (3, 1)
        assert result.best_seconds == found.record.latency.mean
        setup.dialect.apply(conv, found.record)


def test_candidates_that_recompute_a_reduction_are_dropped(setup: Setup,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A layer norm's statistics computed inside its normalising loop redo the reduction for every
    element (on BERT: 489x the kernel's work); such samples never become candidates."""
    import tvm
    from tvm.s_tir.schedule import Trace

    from lorien.dialects.tvm import candidates as tvm_candidates
    from lorien.dialects.tvm.workloads import from_workload, kernel_flops
    from tests.tvm_models import small_layer_norm

    dialect, target = setup.dialect, setup.target
    [use] = dialect.extract(dialect.load_model(small_layer_norm()), target)
    flops = kernel_flops(from_workload(use.workload))

    def work(options: CandidateOptions) -> list[float]:
        found = dialect.candidates(use.workload, target, [], None, options)
        ratios = []
        for schedule in found.schedules:
            sch = tvm.s_tir.Schedule(from_workload(use.workload))
            Trace.apply_json_to_schedule(json.loads(schedule), sch)
            ratios.append(kernel_flops(sch.mod) / flops)
        return ratios

    options, limit = CandidateOptions(samples=32, seed=3), tvm_candidates.REDUNDANT_WORK_LIMIT
    assert flops > 0 and max(work(options)) <= limit
    monkeypatch.setattr(tvm_candidates, "REDUNDANT_WORK_LIMIT", float("inf"))
    assert max(work(options)) > limit  # the same draws without the check: redundant ones among them


def test_samples_beside_adapted_neighbours_are_few_and_all_are_drawn_when_none_adapt(setup: Setup) -> None:
    options = PredictOptions(candidates=CandidateOptions(samples=24, seed=1), samples_beside_neighbours=4)
    with_neighbours = setup.predictor.predict(setup.conv, setup.target, options=options)
    assert with_neighbours.candidates["neighbour"] >= 4 and with_neighbours.candidates["space"] <= 4
    alone = setup.predictor.predict(setup.conv, setup.target,
                                    options=replace(options, neighbours=0))  # none kept: none adapt
    assert "neighbour" not in alone.candidates and alone.candidates["space"] > 4


def test_neighbours_rank_first_only_when_at_least_half_of_them_adapted(setup: Setup) -> None:
    """Two of eight wanted (the rest did not adapt, as far neighbours do not): the cost model
    alone ranks, and the remaining samples are drawn."""
    options = PredictOptions(candidates=CandidateOptions(samples=24, seeds_kept=2, seed=1),
                             samples_beside_neighbours=4)
    ranked = setup.predictor.rank(setup.conv, setup.target, options)
    assert ranked.origins.count("neighbour") <= 2 and ranked.origins.count("space") > 4
    assert list(ranked.scores) == sorted(ranked.scores, reverse=True)


def test_an_upgrade_registers_the_shipped_model_again_over_an_older_one() -> None:
    """The shipped model's name holds the model an earlier Lorien registered (another feature
    version): its latest version becomes this Lorien's model; named versions stay as they were."""
    from lorien.training.registry import load_model, register_model
    from lorien.training.shipped import DEFAULT_MODEL, ensure_shipped_model

    model = LightGBMRankingCostModel.from_text(MODEL_TEXT.read_text())
    older = register_model(DEFAULT_MODEL, model, {**shipped_metadata(), "feature_version": "old"})
    tag = ensure_shipped_model()
    assert tag != older
    assert load_model(DEFAULT_MODEL)[1]["feature_version"] == shipped_metadata()["feature_version"]
    assert ensure_shipped_model() == tag  # registered once
    assert ensure_shipped_model(older) == older and load_model(older)[1]["feature_version"] == "old"


def conv_bn(channels: int, size: int) -> object:
    """A 3x3 convolution and its batch norm, no activation (as before a residual add)."""
    import torch

    from lorien.dialects import TorchModel

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                 torch.nn.BatchNorm2d(channels)).eval()
    return TorchModel(module, (torch.randn(1, channels, size, size),), name="conv_bn")


@pytest.mark.slow
def test_a_3x3_convolution_borrows_from_windowed_convolutions_not_the_1x1_ones_nearer_by_name(
        tmp_path: Path) -> None:
    """ResNet-18's 3x3 convolution of 256 channels at 14x14 without an activation, its family
    held out: by descriptors its nearest tuned workloads are 1x1 convolutions with the same
    epilogue, whose schedules re-tiled to it ran 4-130x slower than tuned. The pool offered is
    wide enough to hold windowed convolutions, and the instant answer is no slower than the
    kernel's random design-space samples (the 1x1 pick was 20x their median)."""
    import statistics

    from lorien.datasets.campaign import read_networks
    from lorien.datasets.seed import tuning_logs_dir
    from lorien.datasets.zoo import family_workloads
    from lorien.logstore import LocalLogStore
    from lorien.predictor.predictor import measure_options

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    resnets = family_workloads(read_networks(LocalLogStore(tuning_logs_dir())), "resnet18")
    store = SQLiteScheduleStore(tmp_path / "s.db")
    seed_store(store, exclude=resnets)
    workload = dialect.extract(dialect.load_model(conv_bn(256, 14)), target)[0].workload
    assert workload.key in resnets  # the very kernel of ResNet-18, unseen by this store
    scorer = CostModelScorer(LightGBMRankingCostModel.from_text(MODEL_TEXT.read_text()), shipped_metadata(),
                             dialect, "shipped")
    predictor = ZeroShotPredictor(store, scorer)
    ranked = predictor.rank(workload, target)
    windows = [n.workload.name.split(", ")[1].split("x")[2:] for n in ranked.neighbours]
    assert any(window[0] != "1" for window in windows)  # not only 1x1 convolutions offered
    assert ranked.origins[0] == "neighbour"
    samples = sampled_schedules(workload, target, 6)
    latencies = dialect.measure(workload, target, [ranked.schedules[0], *samples],
                                measure_options(60.0, 60.0))
    assert all(isinstance(latency, Latency) for latency in latencies)
    answer, *drawn = (latency.mean for latency in latencies)  # type: ignore[union-attr]
    assert answer <= statistics.median(drawn)
    store.close()
