"""The service's logic without HTTP: look-up order, prediction on a miss, refill jobs, writes."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lorien.config import open_queue
from lorien.datasets.seed import seed_from_logs, seed_store, tuning_logs_dir
from lorien.dialects import CandidateOptions, Lowering, get_dialect
from lorien.errors import InvalidInput, NotFound, StoreError
from lorien.logstore import LocalLogStore, read_logs
from lorien.predictor import PredictOptions
from lorien.records import Latency, ScheduleRecord, Workload
from lorien.serving.provider import ScheduleProvider, ServiceSettings, Unauthorized
from lorien.serving.schemas import WorkloadBody, WorkloadRef
from lorien.store.memory import MemoryScheduleStore
from lorien.store.sqlite import SQLiteScheduleStore
from lorien.testing.factories import record
from lorien.training.cost_models import LightGBMRankingCostModel
from lorien.training.shipped import MODEL_TEXT, shipped_metadata
from tests.tvm_models import sampled_schedules, small_conv, small_mlp

FAST = PredictOptions(candidates=CandidateOptions(samples=8, population=8, generations=1, seed=2))


@pytest.fixture(scope="module")
def model() -> tuple[object, dict]:
    return LightGBMRankingCostModel.from_text(MODEL_TEXT.read_text()), shipped_metadata()


@pytest.fixture(scope="module")
def kernels() -> dict[str, Workload]:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    return {m.__name__: dialect.extract(dialect.load_model(m()), target)[0].workload
            for m in (small_conv, small_mlp)}


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file seeded with the shipped logs once; each test serves from a copy of it."""
    path = tmp_path_factory.mktemp("seeded") / "s.db"
    with SQLiteScheduleStore(path) as store:
        seed_store(store)
    return path


@pytest.fixture
def provider(tmp_path: Path, model: tuple[object, dict], seeded_file: Path) -> Iterator[ScheduleProvider]:
    shutil.copyfile(seeded_file, tmp_path / "s.db")
    settings = ServiceSettings(store_uri=f"sqlite:///{tmp_path}/s.db", token="secret", refill_trials=4,
                               predict=FAST)
    provider = ScheduleProvider(settings, model=model)  # type: ignore[arg-type]
    yield provider
    provider.close()


def ref(workload: Workload) -> WorkloadRef:
    return WorkloadRef(workload=WorkloadBody(**workload.to_dict()))


def seeded(provider: ScheduleProvider) -> ScheduleRecord:
    return next(provider.store.records())


def test_an_exact_tuned_hit_needs_no_job_and_a_loose_one_queues_with_rising_priority(
        provider: ScheduleProvider) -> None:
    record = seeded(provider)
    exact = provider.answer(WorkloadRef(key=record.workload_key), record.target.canonical)
    assert (exact.status, exact.match, exact.job) == ("tuned", "exact", {})
    best = provider.store.best(record.workload_key, record.target)
    assert best is not None and exact.record["latency"]["mean"] == best.latency.mean
    by_key = WorkloadRef(key=record.workload_key)
    other_cpu = '{"kind": "llvm", "mcpu": "znver3", "num-cores": 2}'  # not the seeded record's CPU
    loose = [provider.answer(by_key, other_cpu) for _ in range(3)]
    assert [a.job["priority"] for a in loose] == [1, 2, 3]  # demand raises the refill job's priority
    # tuned only on another CPU: a measuring job too, taken by workers before the tuning job
    assert [a.measure_job["priority"] for a in loose] == [1, 2, 3]
    assert (loose[0].job["tier"], loose[0].measure_job["tier"]) == ("tune", "measure")
    assert provider.queue.counts()["waiting"] == 2
    assert [job.spec.tier for job in provider.queue.jobs()] == ["measure", "tune"]


def test_concurrent_requests_each_raise_the_refill_jobs_priority(provider: ScheduleProvider) -> None:
    """Requests racing for a workload tuned only elsewhere: each one adds one to its jobs'
    priority (the bump is one conditional write; read-then-write lost increments)."""
    from concurrent.futures import ThreadPoolExecutor

    record = seeded(provider)
    other_cpu = '{"kind": "llvm", "mcpu": "znver3", "num-cores": 2}'
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: provider.answer(WorkloadRef(key=record.workload_key), other_cpu), range(16)))
    assert sorted(job.spec.priority for job in provider.queue.jobs()) == [16, 16]  # measure and tune


def test_a_miss_is_predicted_once_then_answered_from_the_store_until_tuned(
        provider: ScheduleProvider, kernels: dict[str, Workload]) -> None:
    conv = kernels["small_conv"]
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(provider.answer(ref(conv), "host")))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status for a in answers} == {"predicted"}
    assert len({a.record["schedule"] for a in answers}) == 1  # concurrent misses predicted once
    assert provider.store.count(workload_key=conv.key) == 1
    job_id = answers[0].job["job_id"]
    assert provider.job(job_id).job["state"] == "waiting"

    target = get_dialect("tvm").parse_target("host")
    predicted = ScheduleRecord.from_dict(answers[0].record)
    provider.store.commit([replace(predicted, source="tuned", latency=Latency((5e-5,)))])
    after = provider.answer(WorkloadRef(key=conv.key), "host")
    assert (after.status, after.match, after.job) == ("tuned", "exact", {})
    assert after.record["target"] == target.to_dict()


def test_a_prepacked_kernel_is_answered_by_its_plain_twin_and_still_queued(
        provider: ScheduleProvider, kernels: dict[str, Workload]) -> None:
    """The kernels are prepacked (the default lowering); a tuned record of the plain twin answers
    at once, and the kernel's own search is still queued (it may find a faster layout)."""
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    conv = kernels["small_conv"]
    [twin] = dialect.equivalent_keys(conv)
    [plain] = dialect.extract(dialect.load_model(small_conv()), target, Lowering(prepack=False))
    assert plain.workload.key == twin
    provider.store.commit([ScheduleRecord(dialect="tvm", workload_key=twin, target=target,
                                          build=dialect.build_id(), schedule=schedule,
                                          latency=Latency((1e-4,)), source="tuned")
                           for schedule in sampled_schedules(plain.workload, target, count=1)])
    answer = provider.answer(ref(conv), "host")
    assert (answer.status, answer.match, answer.record["workload_key"]) == ("tuned", "exact", twin)
    assert answer.job["state"] == "waiting"
    assert provider.store.count(workload_key=conv.key) == 0  # nothing predicted


def test_unsupported_targets_are_looked_up_but_not_predicted(provider: ScheduleProvider,
                                                             kernels: dict[str, Workload]) -> None:
    answer = provider.answer(ref(kernels["small_mlp"]), "cuda")
    assert answer.status == "missing" and "trained for llvm_cpu" in answer.detail
    assert answer.job["state"] == "waiting"  # a worker with a GPU may still tune it
    with pytest.raises(InvalidInput, match="no prediction"):
        provider.predict_only(ref(kernels["small_mlp"]), "cuda")
    other_cpu = '{"kind": "llvm", "mcpu": "skylake", "num-cores": 4}'
    with pytest.raises(InvalidInput, match="measures on its own CPU only"):
        provider.predict_only(ref(kernels["small_mlp"]), other_cpu, measure_top_k=2, token="secret")


def test_measuring_needs_the_token(provider: ScheduleProvider, kernels: dict[str, Workload]) -> None:
    """Measuring builds code on the service's machine: anonymous clients may only rank."""
    for token in (None, "wrong"):
        with pytest.raises(Unauthorized):
            provider.predict_only(ref(kernels["small_mlp"]), "host", measure_top_k=2, token=token)


def test_a_budget_needs_the_token_and_everything_is_checked_before_anything_is_done(
        provider: ScheduleProvider, kernels: dict[str, Workload]) -> None:
    refs = [ref(kernels["small_conv"])]
    before = (provider.store.count(), provider.queue.counts())
    for token in (None, "wrong"):
        with pytest.raises(Unauthorized):
            provider.answer_many(refs, "host", budget_s=5, token=token)
    with pytest.raises(InvalidInput, match="at most 300"):
        provider.answer_many(refs, "host", budget_s=301, token="secret")
    with pytest.raises(InvalidInput, match="weights: 2 for 1 workloads"):
        provider.answer_many(refs, "host", budget_s=5, weights=[1, 2], token="secret")
    with pytest.raises(InvalidInput, match="predict: false"):
        provider.answer_many(refs, "host", budget_s=5, predict=False, token="secret")
    other_cpu = json.dumps({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    with pytest.raises(InvalidInput, match="measures on its own CPU only"):
        provider.answer_many(refs, other_cpu, budget_s=5, token="secret")
    assert (provider.store.count(), provider.queue.counts()) == before


@pytest.mark.exclusive  # a budget of seconds must measure something
def test_a_budgeted_batch_is_measured_where_the_model_s_time_goes_and_still_queues_tuning(
        provider: ScheduleProvider, kernels: dict[str, Workload]) -> None:
    from tests.tvm_models import start_budget_measurers

    start_budget_measurers(kernels["small_mlp"], provider._target(get_dialect("tvm"), "host"))
    refs = [ref(kernels["small_conv"]), ref(kernels["small_mlp"])]
    answers = provider.answer_many(refs, "host", budget_s=8, weights=[1, 4], token="secret")
    delivery = answers.delivery
    assert delivery["kernels"] == 2 and delivery["budget_s"] == 8 and delivery["seconds"] < 8 + 15
    assert delivery["kernels_measured"] >= 1 and delivery["candidates_measured"] >= 1
    mlp = answers.answers[1]  # four runs of it a model run: the larger share
    assert (mlp.status, mlp.match) == ("measured", "exact")
    assert all(answer.job for answer in answers.answers)  # full tuning is still queued
    stored = provider.store.top_k(kernels["small_mlp"].key, provider._target(get_dialect("tvm"), "host"), 1,
                                  source="measured")
    assert [record.to_dict() for record in stored] == [mlp.record]


def test_one_budgeted_delivery_at_a_time(provider: ScheduleProvider, kernels: dict[str, Workload]) -> None:
    from lorien.serving.provider import Busy

    provider.settings = replace(provider.settings, prediction_wait_s=0.2)
    with provider._budget_lock:  # another request's delivery is running
        with pytest.raises(Busy, match="another budgeted delivery"):
            provider.answer_many([ref(kernels["small_conv"])], "host", budget_s=5, token="secret")
    assert provider.store.count(workload_key=kernels["small_conv"].key) == 0


def test_failed_refill_jobs_are_reported_not_retried_by_reads(provider: ScheduleProvider,
                                                              kernels: dict[str, Workload]) -> None:
    mlp = kernels["small_mlp"]
    first = provider.answer(ref(mlp), "host", predict=False)
    for job_id in (first.measure_job["job_id"], first.job["job_id"]):  # measuring first
        claimed = provider.queue.claim("w", 60)
        assert claimed is not None and claimed.job_id == job_id
        provider.queue.fail(job_id, claimed.attempts, "compiler crashed", retry=False)
    again = provider.answer(ref(mlp), "host", predict=False)
    assert again.status == "missing" and again.job["state"] == again.measure_job["state"] == "failed"
    enqueued = provider.enqueue(ref(mlp), "host", priority=5)  # an explicit enqueue retries it
    assert enqueued.enqueued == "requeued" and enqueued.job["spec"]["priority"] == 5


def test_bad_workloads_and_writes_change_nothing(provider: ScheduleProvider,
                                                 kernels: dict[str, Workload]) -> None:
    before = (provider.store.count(), provider.queue.counts())
    mlp = kernels["small_mlp"]
    forged = WorkloadRef(workload=WorkloadBody(**{**mlp.to_dict(), "key": "00000000000000ff"}))
    with pytest.raises(InvalidInput, match="does not match"):
        provider.answer(forged, "host")
    with pytest.raises(InvalidInput, match="not JSON"):
        provider.answer(WorkloadRef(workload=WorkloadBody(**{**mlp.to_dict(), "payload": "{]"})), "host")
    with pytest.raises(NotFound):
        provider.answer(WorkloadRef(key="0123456789abcdef"), "host")
    with pytest.raises(InvalidInput):
        provider.answer_many([ref(mlp), forged], "host")  # one bad workload fails the whole batch
    for token in (None, "", "wrong"):
        with pytest.raises(Unauthorized):
            provider.check_token(token)
    provider.check_token("secret")
    record = {**seeded(provider).to_dict(), "workload_key": "0123456789abcdef"}
    with pytest.raises(NotFound, match="unknown workload"):
        provider.commit([], [record])
    with pytest.raises(InvalidInput, match="malformed"):
        provider.commit([], [{"dialect": "tvm"}])
    assert (provider.store.count(), provider.queue.counts()) == before


def test_commit_stores_records_measured_elsewhere(provider: ScheduleProvider,
                                                  kernels: dict[str, Workload]) -> None:
    mlp = kernels["small_mlp"]
    target = get_dialect("tvm").parse_target("host")
    predicted = provider.predict_only(ref(mlp), "host")
    assert provider.store.count(workload_key=mlp.key) == 0  # prediction only stores nothing
    assert predicted.compiles and predicted.passed_over == 0  # compiled on the service's machine
    record = {**predicted.record, "source": "tuned", "latency": {"runs": [1e-4, 2e-4]}}
    result = provider.commit([WorkloadBody(**mlp.to_dict())], [record])
    assert (result.workloads, result.kept) == (1, 1)
    answer = provider.answer(WorkloadRef(key=mlp.key), target.canonical)
    assert (answer.status, answer.match) == ("tuned", "exact")
    assert provider.health().ok and provider.model_info().metadata["dialect"] == "tvm"


def test_the_same_answers_and_refill_jobs_on_dynamodb(aws: str, model: tuple[object, dict],
                                                      kernels: dict[str, Workload]) -> None:
    from tests.aws import unique

    uri = f"dynamodb://{unique('serve')}?endpoint_url={aws}&region=us-east-1"
    provider = ScheduleProvider(ServiceSettings(store_uri=uri, refill_trials=4, predict=FAST),
                                model=model)  # type: ignore[arg-type]
    try:
        # the shipped logs of one searched workload: the table answers as the seeded file does (the
        # whole data set through a local DynamoDB would take minutes)
        shipped = LocalLogStore(tuning_logs_dir())
        for folder in sorted(path.name for path in (tuning_logs_dir() / "tvm").iterdir()):
            logs, _, _ = read_logs(shipped, prefix=f"tvm/{folder}/")
            if any(m.origin != "neighbour" for log in logs for m in log.succeeded):
                break
        assert seed_from_logs(provider.store, logs)[1] > 0
        record = seeded(provider)
        hit = provider.answer(WorkloadRef(key=record.workload_key), record.target.canonical)
        assert (hit.status, hit.match, hit.job) == ("tuned", "exact", {})
        mlp = kernels["small_mlp"]
        first = provider.answer(ref(mlp), "host", predict=False)
        second = provider.answer(WorkloadRef(key=mlp.key), "host", predict=False)
        assert first.status == second.status == "missing"
        assert (first.job["priority"], second.job["priority"]) == (1, 2)
        claimed = provider.queue.claim("worker-elsewhere", 60)  # any worker on the table takes it
        assert claimed is not None and claimed.spec.workload_key == mlp.key
    finally:
        provider.close()


def test_a_workload_nothing_can_predict_is_missing_and_still_queued(provider: ScheduleProvider) -> None:
    from lorien.testing.instant import instant_workload

    workload = instant_workload("00000000000000ab")
    answers = provider.answer_many([ref(workload), ref(workload)], "cpu")  # no design space, no model
    assert [a.status for a in answers.answers] == ["missing", "missing"] and answers.missing == 2
    assert answers.answers[0].detail and answers.answers[1].job["priority"] == 2


def test_predictions_beyond_the_slots_wait_then_answer_missing_or_busy(
        tmp_path: Path, model: tuple[object, dict], kernels: dict[str, Workload],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lorien.predictor import ZeroShotPredictor
    from lorien.serving.provider import Busy

    settings = ServiceSettings(store_uri=f"sqlite:///{tmp_path}/s.db", refill_trials=4, predict=FAST,
                               max_predictions=1, prediction_wait_s=1.0)
    provider = ScheduleProvider(settings, model=model)  # type: ignore[arg-type]
    seed_store(provider.store)
    original, entered, release = ZeroShotPredictor.predict, threading.Event(), threading.Event()

    def held(self: ZeroShotPredictor, *args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ZeroShotPredictor, "predict", held)
    first: list = []
    conv, ref_mlp = ref(kernels["small_conv"]), ref(kernels["small_mlp"])
    thread = threading.Thread(target=lambda: first.append(provider.answer(conv, "host")))
    thread.start()
    try:
        assert entered.wait(60)  # the only slot is taken
        waiting = provider.answer(ref_mlp, "host")
        assert waiting.status == "missing" and "busy" in waiting.detail
        assert waiting.job["state"] == "waiting"  # still queued for tuning
        with pytest.raises(Busy, match=r"its 1 prediction slot\(s\) stayed taken while this request could "
                                       r"wait \(1 s\)"):
            provider.predict_only(ref_mlp, "host")
        started = time.monotonic()
        batch = provider.answer_many([ref_mlp] * 3, "host")
        assert batch.missing == 3
        assert time.monotonic() - started < 2.0  # one wait for the batch, not one per miss
    finally:
        release.set()
        thread.join()
    assert first[0].status == "predicted"
    assert provider.answer(ref_mlp, "host").status == "predicted"  # a slot is free again
    provider.close()


def test_one_client_cannot_hold_every_prediction_slot(tmp_path: Path, model: tuple[object, dict],
                                                       kernels: dict[str, Workload], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two slots, one per client: while client A's prediction runs, A's next miss waits out its
    wait and is answered missing, but client B is predicted at once."""
    from lorien.predictor import ZeroShotPredictor

    settings = ServiceSettings(store_uri=f"sqlite:///{tmp_path}/s.db", refill_trials=4, predict=FAST,
                               max_predictions=2, max_predictions_per_client=1, prediction_wait_s=1.0)
    provider = ScheduleProvider(settings, model=model)  # type: ignore[arg-type]
    seed_store(provider.store)
    original, entered, release = ZeroShotPredictor.predict, threading.Event(), threading.Event()

    def held(self: ZeroShotPredictor, workload: Workload, *args: Any, **kwargs: Any) -> Any:
        if workload.key == kernels["small_conv"].key:
            entered.set()
            assert release.wait(60)
        return original(self, workload, *args, **kwargs)

    monkeypatch.setattr(ZeroShotPredictor, "predict", held)
    first: list = []
    thread = threading.Thread(target=lambda: first.append(
        provider.answer(ref(kernels["small_conv"]), "host", client="10.0.0.1")))
    thread.start()
    try:
        assert entered.wait(60)  # client A holds one slot; one is free
        again = provider.answer(ref(kernels["small_mlp"]), "host", client="10.0.0.1")
        assert again.status == "missing" and "this client already runs 1 prediction" in again.detail
        other = provider.answer(ref(kernels["small_mlp"]), "host", client="10.0.0.2")
        assert other.status == "predicted"
    finally:
        release.set()
        thread.join()
    assert first[0].status == "predicted"
    assert provider._client_slots == {}  # every slot given back
    provider.close()


def test_commit_refuses_schedules_that_crash_the_compiler(provider: ScheduleProvider) -> None:
    """Each hostile trace is applied in the sandbox, refused with its reason, and nothing is stored;
    the service's process survives and a good schedule still commits."""
    from tests.payload_corpus import hostile_schedules, shipped_workload_and_schedule

    workload, schedule = shipped_workload_and_schedule()
    target = get_dialect("tvm").parse_target('{"kind": "llvm", "mcpu": "znver3", "num-cores": 2}')
    good = ScheduleRecord(dialect="tvm", workload_key=workload.key, target=target,
                          build=get_dialect("tvm").build_id(), schedule=schedule, latency=Latency((1e-3,)))
    before = provider.store.count()
    for name, hostile in hostile_schedules(schedule).items():
        with pytest.raises(InvalidInput, match="record 0: schedule") as refused:
            provider.commit([], [replace(good, schedule=hostile).to_dict()])
        assert "\n" not in str(refused.value), name
    assert provider.store.count() == before
    assert provider.commit([], [good.to_dict()]).kept == 1


def test_hostile_workloads_are_refused_before_the_compiler_reads_them(provider: ScheduleProvider) -> None:
    from tests.payload_corpus import hostile_payloads, shipped_workload_and_schedule

    workload, _ = shipped_workload_and_schedule()
    before = (provider.store.count(), provider.queue.counts())
    for name, payload in hostile_payloads(workload).items():
        body = WorkloadBody(**{**workload.to_dict(), "payload": payload})
        with pytest.raises(InvalidInput) as refused:
            provider.answer(WorkloadRef(workload=body), "host")
        assert "\n" not in str(refused.value), name
        with pytest.raises(InvalidInput):
            provider.predict_only(WorkloadRef(workload=body), "host")
    assert provider.store.get_workload("tvm", workload.key) == workload  # the seeded one, untouched
    assert (provider.store.count(), provider.queue.counts()) == before


@pytest.mark.parametrize("environ, message", [
    ({"LORIEN_MAX_PREDICTIONS": "0"}, "LORIEN_MAX_PREDICTIONS must be a positive integer"),
    ({"LORIEN_MAX_PREDICTIONS_PER_CLIENT": "0"}, "LORIEN_MAX_PREDICTIONS_PER_CLIENT must be a positive"),
    ({"LORIEN_PREDICTION_WAIT_S": "soon"}, "LORIEN_PREDICTION_WAIT_S must be seconds"),
    ({"LORIEN_PREDICTION_WAIT_S": "-1"}, "prediction_wait_s must be a finite number"),
    ({"LORIEN_PREDICTION_WAIT_S": "inf"}, "prediction_wait_s must be a finite number"),
])
def test_bad_prediction_limits_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ServiceSettings.from_env({"LORIEN_STORE": "sqlite:///x.db", **environ})


class CountingStore(MemoryScheduleStore):
    """Counts the scans of every group, and fails point reads while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0
        self.down = False

    def groups(self):  # type: ignore[no-untyped-def]
        self.scans += 1
        return super().groups()

    def get_workload(self, dialect: str, key: str) -> Workload | None:
        if self.down:
            raise StoreError("the store is down")
        return super().get_workload(dialect, key)


def test_readiness_reads_one_item_and_health_counts_are_sampled(tmp_path: Path,
                                                               model: tuple[object, dict]) -> None:
    """``/readyz`` costs a point read of the store and of the queue, whatever their size; ``/health``
    counts every job and group at most once per ``health_counts_s`` and says how old its counts
    are."""
    store = CountingStore()
    store.commit([record(seconds=1e-3), record(key="00000000000000bb", seconds=1e-3)])
    with open_queue(f"sqlite:///{tmp_path}/q.db", create=True) as queue:
        settings = ServiceSettings(store_uri=f"sqlite:///{tmp_path}/q.db", health_counts_s=3600.0)
        provider = ScheduleProvider(settings, store=store, queue=queue, model=model)  # type: ignore[arg-type]
        for _ in range(5):
            assert provider.ready() is None
        assert store.scans == 0
        first, second = provider.health(), provider.health()
        assert first.ok and first.record_groups == 2 and first.queue["waiting"] == 0
        assert store.scans == 1 and 0 <= first.counts_age_s <= second.counts_age_s
        store.down = True
        assert "down" in (provider.ready() or "")
        down = provider.health()
        assert not down.ok and "down" in down.detail and down.record_groups == 2  # the last counts
        store.down = False
        stale = ServiceSettings(store_uri=settings.store_uri, health_counts_s=0.0)
        provider = ScheduleProvider(stale, store=store, queue=queue, model=model)  # type: ignore[arg-type]
        provider.health()
        scans = store.scans
        provider.health()  # answers the last counts and counts again in the background
        deadline = time.monotonic() + 10
        while store.scans == scans and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.scans == scans + 1


def test_health_counts_interval_is_checked() -> None:
    with pytest.raises(InvalidInput, match="health_counts_s"):
        ServiceSettings(store_uri="sqlite:///x.db", health_counts_s=-1.0)
    with pytest.raises(InvalidInput, match="LORIEN_HEALTH_COUNTS_S"):
        ServiceSettings.from_env({"LORIEN_HEALTH_COUNTS_S": "soon"})
