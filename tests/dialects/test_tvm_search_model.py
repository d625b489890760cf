"""The search model: MetaSchedule's XGBoost pre-trained on tuning logs, guiding tuning from its
first trial (instead of MetaSchedule's random answers until 100 measurements)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lorien.datasets.seed import tuning_logs_dir
from lorien.dialects import TuneOptions, get_dialect
from lorien.dialects.tvm.search_model import (
    SHIPPED_SEARCH_MODEL,
    fit_search_model,
    save_search_model,
    search_model_rows,
    warm_cost_model,
)
from lorien.dialects.tvm.tuning import search_cost_model
from lorien.errors import InvalidInput
from lorien.logstore import LocalLogStore
from lorien.tuning_log import TuningLog


def small_logs(count: int = 3) -> list[TuningLog]:
    """The shipped data set's logs of its ``count`` smallest workloads with schedules to tell
    apart (8 latencies or more: a reshape's design space can be one schedule); real TVM schedules
    and latencies, featurized in a few seconds."""
    from lorien.logstore import read_logs

    logs = read_logs(LocalLogStore(tuning_logs_dir()))[0]
    timed: dict[str, set[float]] = {}
    for log in logs:
        timed.setdefault(log.workload.key, set()).update(m.latency.mean for m in log.succeeded if m.latency)
    by_flops = sorted({log.workload.key: log.workload.flops for log in logs
                       if len(timed[log.workload.key]) >= 8}.items(), key=lambda item: (item[1], item[0]))
    keep = {key for key, _ in by_flops[:count]}
    return [log for log in logs if log.workload.key in keep]


def test_rows_label_each_measurement_by_its_workload_best() -> None:
    logs = small_logs(2)
    features, labels = search_model_rows(logs)
    assert len(features) == len(labels) > 0
    assert labels.max() == pytest.approx(1.0) and (labels >= 0).all()
    excluded = {logs[0].workload.key}
    fewer, _ = search_model_rows(logs, exclude=excluded)
    assert 0 < len(fewer) < len(features)


def test_labels_compare_latencies_on_one_cpu_only() -> None:
    """The same workload measured on a CPU twice as slow labels its measurements as the first CPU
    does: each CPU's best is its own 1.0."""
    import dataclasses
    import re

    from lorien.records import Latency, Target

    (log, *_) = [log for log in small_logs(1) if log.measurements]
    slower = dataclasses.replace(
        log, target=Target(re.sub(r'"mcpu":\s*"[^"]*"', '"mcpu":"haswell"', log.target.canonical),
                           log.target.loose_key),
        measurements=tuple(dataclasses.replace(m, latency=Latency(tuple(2 * r for r in m.latency.runs))
                                               if m.latency else None) for m in log.measurements))
    assert slower.target != log.target
    _, alone = search_model_rows([log])
    _, both = search_model_rows([log, slower])
    assert len(both) == 2 * len(alone)
    assert np.allclose(np.sort(both), np.sort(np.concatenate([alone, alone])))


def test_a_saved_model_predicts_its_training_order_from_the_first_candidate(tmp_path: Path) -> None:
    logs = small_logs(3)
    model, rows = fit_search_model(logs)
    path = save_search_model(model, rows, tmp_path / "search.json")
    warm = warm_cost_model(path)
    assert warm.data_size >= warm.num_warmup_samples  # predicts with the booster, not at random
    features, labels = search_model_rows(logs)
    blocks = [np.asarray(f, dtype=np.float32) for f in features]
    first, again = warm._predict(xs=blocks), warm._predict(xs=blocks)
    assert np.array_equal(first, again)  # MetaSchedule's untrained answer is random: this is not
    assert np.allclose(first, model.predict(features), atol=1e-5)
    assert np.corrcoef(first, labels)[0, 1] > 0.5


def test_the_shipped_model_guides_tuning_unless_cold_start_is_asked() -> None:
    assert SHIPPED_SEARCH_MODEL.is_file()
    warm = search_cost_model(TuneOptions())
    assert warm.booster is not None and warm.data_size >= warm.num_warmup_samples
    assert search_cost_model(TuneOptions(warm_start=False)) == "xgb"


def test_a_file_that_is_not_a_search_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no search model"):
        warm_cost_model(tmp_path / "missing.json")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(InvalidInput, match="not a search model"):
        warm_cost_model(junk)
    with pytest.raises(InvalidInput, match="not a search model"):
        search_cost_model(TuneOptions(search_model=junk))
    # the dialect answers the same before anything is queued, as a value, and only when warm
    tvm = get_dialect("tvm")
    assert "not a search model" in (tvm.tune_options_problem(TuneOptions(search_model=junk)) or "")
    assert "no search model" in (tvm.tune_options_problem(
        TuneOptions(search_model=tmp_path / "missing.json")) or "")
    assert tvm.tune_options_problem(TuneOptions(search_model=junk, warm_start=False)) is None
    assert tvm.tune_options_problem(TuneOptions(search_model=SHIPPED_SEARCH_MODEL)) is None


def test_training_on_a_folder_without_logs_is_one_line(tmp_path: Path) -> None:
    from lorien.dialects.tvm.search_model import main

    with pytest.raises(SystemExit, match="nothing to train a search model on"):
        main(["--logs", str(tmp_path), "--out", str(tmp_path / "model.json")])
    assert not (tmp_path / "model.json").exists()
