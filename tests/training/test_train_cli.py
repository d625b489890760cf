"""``lorien train`` end to end on a log folder: evaluate, fit, register, load back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lorien.cli.main import main
from lorien.datasets.campaign import CampaignWorkload, write_manifest
from lorien.dialects import get_dialect
from lorien.logstore import LocalLogStore, log_key
from lorien.records import Latency
from lorien.tuning_log import Measurement, TuningLog
from tests import tvm_models


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("logs")
    logs = LocalLogStore(folder)
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    other_cpu = dialect.parse_target('{"kind": "llvm", "mcpu": "haswell", "num-cores": 4}')
    rng = np.random.default_rng(0)
    plan = []
    for network, factory in (("conv@1", tvm_models.small_conv), ("mlp@1", tvm_models.small_mlp)):
        [use] = dialect.extract(dialect.load_model(factory()), target)
        *schedules, broken = tvm_models.sampled_schedules(use.workload, target, 13)
        measurements = [Measurement(s, Latency((float(rng.uniform(1e-4, 1e-3)),))) for s in schedules]
        measurements.append(Measurement(broken, None, "build failed"))
        log = TuningLog(use.workload, target, dialect.build_id(), 13, 0.0, 1.0, tuple(measurements))
        # the same schedules measured on a second CPU (6 of them): logs of two CPUs train together
        elsewhere = TuningLog(use.workload, other_cpu, dialect.build_id(), 6, 0.0, 1.0, tuple(
            Measurement(s, Latency((float(rng.uniform(1e-4, 1e-3)),))) for s in schedules[:6]))
        for each in (log, elsewhere):
            data = each.to_bytes()
            logs.put(log_key("tvm", use.workload.key, data), data)
        plan.append(CampaignWorkload(use.workload, (network,)))
    write_manifest(logs, plan)
    logs.put("tvm/truncated/x.jsonl.gz", data[: len(data) // 3])
    return folder


@pytest.mark.parametrize("model_type", ["lightgbm", "sklearn", "autogluon"])
def test_train_registers_an_evaluated_model(log_folder: Path, model_type: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--logs", f"file://{log_folder}", "--model-type", model_type,
                 "--out", f"cm-{model_type}", "--time-limit", "1", "--threads", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["feature_version"] == get_dialect("tvm").feature_version
    assert summary["training_data"]["workloads"] == 2
    assert summary["training_data"]["failed_rows"] == 2
    assert len(summary["training_data"]["cpus"]) == 2
    assert set(summary["held_out"]) == {"conv", "mlp"}
    assert all(0 <= m["pairwise_accuracy"] <= 1 for m in summary["held_out"].values())

    from lorien.training.registry import load_model

    model, metadata = load_model(summary["tag"])
    assert metadata["model_type"] == model_type
    assert model.predict(np.zeros((3, model.n_features_in_))).shape == (3,)


def test_train_on_an_empty_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--logs", f"file://{tmp_path}", "--out", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no readable tuning log" in err[0]


def test_an_unknown_registered_model(capsys: pytest.CaptureFixture[str]) -> None:
    from lorien.errors import NotFound
    from lorien.training.registry import load_model

    with pytest.raises(NotFound):
        load_model("no-such-model")


def test_train_with_the_metaschedule_baseline_and_plots(log_folder: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    plots = tmp_path / "plots"
    assert main(["train", "--logs", f"file://{log_folder}", "--model-type", "sklearn", "--out", "cm-b",
                 "--baseline", "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert "metaschedule-xgb" in out and "sklearn" in out
    for name in ("predicted_vs_measured.png", "top_k_by_network.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["train", "--logs", f"file://{log_folder}", "--model-type", "sklearn", "--out", "cm-b",
                 "--baseline", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["baseline"]["name"] == "metaschedule-xgb"
    assert set(summary["baseline"]["held_out"]) == set(summary["held_out"]) == {"conv", "mlp"}
    # one summary per model and baseline, on the same splits, and each CPU held out in turn
    for key in ("summary", "summary_leave_cpu_out"):
        assert set(summary[key]) == {"sklearn", "random", "metaschedule-xgb"}
        assert all(0 < m["top1"] <= m["top5"] <= 1 for m in summary[key].values())
        # the model's five spread picks keep its first pick; MetaSchedule's per-store rows and a
        # random pick have none
        assert set(summary[key]["random"]) == set(summary[key]["metaschedule-xgb"]) == {"top1", "top5"}
        assert set(summary[key]["sklearn"]) == {"top1", "top5", "top5_spread"}
        assert summary[key]["sklearn"]["top1"] <= summary[key]["sklearn"]["top5_spread"] <= 1
    # every group holds search picks: the goal's rows are all rows (labels re-read from float32 scores)
    for key in ("summary", "summary_leave_cpu_out"):
        searched = summary[key.replace("summary", "summary_searched")]
        assert set(searched) == set(summary[key])
        assert all(searched[name] == pytest.approx(summary[key][name], rel=1e-6) for name in searched)
    cpus = summary["training_data"]["cpus"]
    assert len(cpus) == 2 and "haswell" in cpus
    assert all(set(found) == set(cpus) for found in summary["leave_cpu_out"].values())


def test_plots_into_an_unwritable_place_is_one_line(log_folder: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", "--logs", f"file://{log_folder}", "--model-type", "sklearn", "--out", "cm-p",
                 "--plots", str(blocker / "plots")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write plots" in err[0]


def test_train_reads_logs_from_s3(log_folder: Path, aws: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The offline training command on S3 logs: the same pipeline, another log store URI."""
    from tests.aws import unique

    s3 = f"s3://{unique('lorien')}/campaign?endpoint_url={aws}&region=us-east-1"
    assert main(["db", "copy", "--from", f"file://{log_folder}", "--to", s3]) == 0
    capsys.readouterr()
    assert main(["train", "--logs", s3, "--model-type", "lightgbm", "--out", "cm-s3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["training_data"]["logs"] == s3
    assert summary["training_data"]["workloads"] == 2
    assert summary["training_data"]["skipped_logs"] == 1  # the truncated one, read from S3 too
    assert set(summary["held_out"]) == {"conv", "mlp"}


def test_train_shipped_rewrites_the_shipped_model(log_folder: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``lorien train --shipped`` trains LightGBM on the packaged data set (here a small one) and
    replaces the shipped model and its metadata; it registers nothing."""
    from lorien.datasets import seed
    from lorien.training import shipped
    from lorien.training.cost_models import LightGBMRankingCostModel

    monkeypatch.setattr(seed, "tuning_logs_dir", lambda: log_folder)
    for name, path in (("SHIPPED", tmp_path / "shipped"), ("MODEL_TEXT", tmp_path / "shipped" / "m.txt"),
                       ("MODEL_METADATA", tmp_path / "shipped" / "m.json")):
        monkeypatch.setattr(shipped, name, path)
    assert main(["train", "--shipped", "--no-feature-cache"]) == 0
    assert "wrote " in capsys.readouterr().out
    model = LightGBMRankingCostModel.from_text((tmp_path / "shipped" / "m.txt").read_text())
    assert model.predict(np.zeros((1, model.n_features_in_), dtype=np.float32)).shape == (1,)
    metadata = json.loads((tmp_path / "shipped" / "m.json").read_text())
    assert metadata["training_data"]["logs"] == "datasets/tuning_logs"
    assert set(metadata["summary"]) >= {"lightgbm", "random"}


@pytest.mark.parametrize("argv", [["--shipped", "--logs", "file:///x"], ["--shipped", "--out", "x"],
                                  ["--shipped", "--model-type", "sklearn"], ["--logs", "file:///x"],
                                  ["--out", "x"], ["--logs", "file:///x", "--out", "x", "--time-limit", "0"],
                                  ["--logs", "file:///x", "--out", "x", "--time-limit", "nan"],
                                  ["--logs", "file:///x", "--out", "x", "--threads", "0"]])
def test_train_arguments_that_do_not_go_together_are_one_line(argv: list[str],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    flags = ("--shipped", "required", "--time-limit", "--threads")
    assert len(err) == 1 and any(word in err[0] for word in flags), err


def test_a_ranker_fitted_without_a_family_never_sees_its_rows(log_folder: Path) -> None:
    from lorien.datasets.zoo import family_workloads
    from lorien.errors import InvalidInput
    from lorien.training.pipeline import fit_ranker_without, load_training_data

    data = load_training_data(LocalLogStore(log_folder))
    conv = family_workloads(data.networks_of, "conv")
    assert len(conv) == 1 and conv < set(data.table.workload_keys)
    fitted, rows = fit_ranker_without(data, conv)
    assert rows == int((data.table.workload_keys != next(iter(conv))).sum()) < len(data.table)
    assert np.isfinite(fitted.predict(data.table.features)).all()
    with pytest.raises(InvalidInput, match="nothing to fit on"):
        fit_ranker_without(data, set(data.table.workload_keys))


def test_a_kept_ranker_is_fitted_once_and_read_back(log_folder: Path, tmp_path: Path) -> None:
    from lorien.training.pipeline import kept_ranker_without

    kept = tmp_path / "cost_model.txt"
    fitted = kept_ranker_without(kept, LocalLogStore(log_folder), set())
    assert kept.exists()
    empty = LocalLogStore(tmp_path / "no-logs")  # nothing to fit on: read back, not fitted again
    again = kept_ranker_without(kept, empty, set())
    assert again.to_text() == fitted.to_text()


def test_a_held_out_family_is_left_out_of_the_neighbour_store_and_the_ranker(log_folder: Path,
                                                                           tmp_path: Path) -> None:
    from lorien.datasets.zoo import family_workloads
    from lorien.training.held_out import hold_out_family
    from lorien.training.pipeline import fit_ranker_without, load_training_data

    steps: list[str] = []
    held_out = hold_out_family("conv", tmp_path / "work", log_folder, progress=steps.append)
    data = load_training_data(LocalLogStore(log_folder))
    assert held_out.excluded == family_workloads(data.networks_of, "conv") and len(held_out.excluded) == 1
    stored = {w.key for w in held_out.store.list_workloads()}
    assert stored == set(data.table.workload_keys) - held_out.excluded  # the mlp alone
    expected, _ = fit_ranker_without(data, held_out.excluded)
    assert held_out.ranker.to_text() == expected.to_text()
    assert [s.split()[0] for s in steps] == ["seeding", "training"]
    held_out.store.close()
    again = hold_out_family("conv", tmp_path / "work", log_folder, progress=steps.append)
    assert len(steps) == 2 and again.ranker.to_text() == expected.to_text()  # read back: no step again
    again.store.close()
