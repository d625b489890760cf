"""Job specs: tiers, ids and the order workers take jobs in; how big a job's search is."""

from __future__ import annotations

import pytest

from lorien.errors import InvalidInput
from lorien.jobs import MEASURE_LEAD, Job, JobSpec, claim_order
from lorien.testing.factories import CPU_A


def spec(**fields: object) -> JobSpec:
    return JobSpec(**{"dialect": "fake", "workload_key": "a" * 16, "workload_name": "op", "target": CPU_A,
                      "build": "fake-1", "trials": 8, **fields})


def test_a_spec_stored_before_there_were_tiers_reads_as_the_same_tuning_job() -> None:
    data = spec().to_dict()
    assert data.pop("tier") == "tune"
    old = JobSpec.from_dict(data)
    assert old == spec() and old.job_id == spec().job_id
    assert JobSpec.from_dict(spec(tier="measure").to_dict()) == spec(tier="measure")


def test_random_samples_and_re_measurements_travel_with_a_tuning_job() -> None:
    data = spec().to_dict()
    assert (data.pop("random_samples"), data.pop("remeasure")) == (0, 0)
    assert JobSpec.from_dict(data) == spec()  # a spec stored before they existed
    sampled = spec(trials=0, random_samples=16, remeasure=4)
    assert JobSpec.from_dict(sampled.to_dict()) == sampled and sampled.job_id == spec().job_id
    assert sampled.budget_text == "16 random samples"
    assert spec(random_samples=16).budget_text == "8 trials + 16 random samples"
    assert spec(trials=16, random_samples=16, remeasure=4).covers(sampled) and not sampled.covers(spec())
    with pytest.raises(InvalidInput, match="trials"):
        spec(trials=0)
    with pytest.raises(InvalidInput, match="tuning jobs"):
        spec(tier="measure", random_samples=4)


def test_neighbour_samples_travel_with_a_tuning_job_and_older_specs_read_without_them() -> None:
    data = spec().to_dict()
    assert data.pop("neighbour_samples") == 0
    assert JobSpec.from_dict(data) == spec()  # a spec stored before they existed
    adapting = spec(trials=0, neighbour_samples=8, remeasure=4)
    assert JobSpec.from_dict(adapting.to_dict()) == adapting
    assert adapting.budget_text == "8 neighbour samples"
    assert spec(random_samples=16, neighbour_samples=8).budget_text == (
        "8 trials + 16 random samples + 8 neighbour samples")
    assert spec(trials=8, neighbour_samples=8, remeasure=4).covers(adapting) and not spec().covers(adapting)
    with pytest.raises(InvalidInput, match="tuning jobs"):
        spec(tier="measure", neighbour_samples=4)


def test_the_timeouts_and_repeats_a_user_sets_travel_with_a_queued_job(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One budget for the job and the dialect: what ``submit`` is given is what the queued job
    holds, what a worker hands the dialect, and what a job stored before these fields read as."""
    from lorien.config import open_queue, open_store
    from lorien.dialects import TuneOptions
    from lorien.testing.instant import InstantDialect, instant_workload
    from lorien.tuner.submit import job_spec, submit

    options = TuneOptions(trials=4, build_timeout_s=50.0, run_timeout_s=7.0, repeat=5, population=8, seed=3)
    uri = f"sqlite:///{tmp_path}/s.db"
    dialect, workload = InstantDialect(), instant_workload("b" * 16)
    with open_store(uri) as store, open_queue(uri) as queue:
        [job_id] = submit(queue, store, dialect, [workload], CPU_A, options).jobs
        queued = queue.get(job_id)
    assert queued is not None and queued.spec.budget() == options.budget()
    assert TuneOptions(**queued.spec.budget()).budget() == options.budget()  # what a worker builds
    measuring = job_spec(dialect, workload, CPU_A, TuneOptions(trials=4, random_samples=8), tier="measure")
    assert (measuring.random_samples, measuring.remeasure, measuring.trials) == (0, 0, 4)
    adapting = job_spec(dialect, workload, CPU_A, TuneOptions(trials=4, neighbour_samples=8), tier="measure")
    assert adapting.neighbour_samples == 0
    data = spec().to_dict()
    for name in ("build_timeout_s", "run_timeout_s", "repeat", "population"):
        data.pop(name)
    assert JobSpec.from_dict(data) == spec()  # stored before: the defaults
    wrongs = ({"repeat": 0}, {"run_timeout_s": 0.0}, {"build_timeout_s": float("nan")}, {"population": 1})
    for wrong in wrongs:
        with pytest.raises(InvalidInput):
            spec(**wrong)


def test_an_unknown_tier_is_refused() -> None:
    with pytest.raises(InvalidInput, match="tier"):
        spec(tier="profile")
    with pytest.raises(InvalidInput, match="tier"):
        JobSpec.from_dict({**spec().to_dict(), "tier": "profile"})


def test_measuring_jobs_come_first_then_priority_then_age() -> None:
    jobs = [Job(spec=spec(workload_key=f"{i:016x}", priority=p, tier=t), state="waiting", created_at=c)
            for i, (p, t, c) in enumerate([(10**6, "tune", 0.0), (0, "measure", 5.0), (3, "measure", 9.0),
                                           (10**6, "tune", 1.0)])]
    assert [j.spec.workload_key[-1] for j in sorted(jobs, key=claim_order)] == ["2", "1", "0", "3"]
    assert spec(tier="measure", priority=2).urgency == MEASURE_LEAD + 2 > spec(priority=10**6).urgency


def test_a_search_s_population_is_sized_to_its_budget() -> None:
    from lorien.dialects import TuneOptions

    assert [TuneOptions(trials=t).search_population() for t in (1, 2, 8, 32, 64, 1000)] == [
        64, 64, 128, 512, 512, 512]  # MetaSchedule's 512 from 32 trials up
    assert TuneOptions(trials=1, population=512).search_population() == 512
    with pytest.raises(InvalidInput, match="population"):
        TuneOptions(population=1)
