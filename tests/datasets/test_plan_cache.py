"""The plan cache: each network lowered once, read back exactly, never read for other inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.datasets.campaign import plan_campaign
from lorien.datasets.plan_cache import PlanCache, source_fingerprint
from lorien.dialects import get_dialect
from lorien.records import Workload
from lorien.testing.factories import CPU_A, CPU_B, workload


class Lowerer:
    """Counts how often a network was lowered."""

    def __init__(self, found: list[Workload]) -> None:
        self.found, self.calls = found, 0

    def __call__(self) -> list[Workload]:
        self.calls += 1
        return self.found


def test_a_network_is_lowered_once_and_read_back_exactly(tmp_path: Path) -> None:
    lower = Lowerer([workload("aa"), workload("bb")])
    first = PlanCache(tmp_path, fingerprint="f1").workloads("resnet18", 1, CPU_A, "default", "b1", lower)
    again = PlanCache(tmp_path, fingerprint="f1").workloads("resnet18", 1, CPU_A, "default", "b1", lower)
    assert lower.calls == 1
    assert again == first == [workload("aa"), workload("bb")]


@pytest.mark.parametrize("change", ["model", "batch", "target", "lowering", "build", "fingerprint"])
def test_any_other_input_lowers_again(tmp_path: Path, change: str) -> None:
    inputs = {"model": "resnet18", "batch": 1, "target": CPU_A, "lowering": "default", "build": "b1"}
    PlanCache(tmp_path, fingerprint="f1").workloads(**inputs, lower=Lowerer([workload("aa")]))
    other = {"model": "vgg16", "batch": 4, "target": CPU_B, "lowering": "Lowering(prepack=True)",
             "build": "b2", "fingerprint": "f2"}
    fingerprint = other["fingerprint"] if change == "fingerprint" else "f1"
    changed = {**inputs, change: other[change]} if change != "fingerprint" else inputs
    lower = Lowerer([workload("bb")])
    assert PlanCache(tmp_path, fingerprint=fingerprint).workloads(**changed, lower=lower) == [workload("bb")]
    assert lower.calls == 1


@pytest.mark.parametrize("body", ["", "{not json", "[1, 2]", '{"workloads": [{"key": "aa"}]}',
                                  '{"workloads": 3}'])
def test_a_damaged_entry_is_lowered_again_and_replaced(tmp_path: Path, body: str) -> None:
    cache = PlanCache(tmp_path, fingerprint="f1")
    cache.workloads("resnet18", 1, CPU_A, "default", "b1", Lowerer([workload("aa")]))
    (entry,) = tmp_path.glob("*.json")
    entry.write_text(body)
    lower = Lowerer([workload("aa")])
    assert cache.workloads("resnet18", 1, CPU_A, "default", "b1", lower) == [workload("aa")]
    assert lower.calls == 1
    assert cache.workloads("resnet18", 1, CPU_A, "default", "b1", lower) == [workload("aa")]
    assert lower.calls == 1  # the replacement reads back


def test_a_failed_lowering_keeps_nothing(tmp_path: Path) -> None:
    def broken() -> list[Workload]:
        raise RuntimeError("lowering failed")

    cache = PlanCache(tmp_path, fingerprint="f1")
    with pytest.raises(RuntimeError, match="lowering failed"):
        cache.workloads("resnet18", 1, CPU_A, "default", "b1", broken)
    assert not list(tmp_path.iterdir())


def test_an_unwritable_folder_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would be")
    lower = Lowerer([workload("aa")])
    cache = PlanCache(blocker / "plans", fingerprint="f1")
    assert cache.workloads("resnet18", 1, CPU_A, "default", "b1", lower) == [workload("aa")]
    assert cache.workloads("resnet18", 1, CPU_A, "default", "b1", lower) == [workload("aa")]
    assert lower.calls == 2


def test_the_fingerprint_follows_the_lowering_source() -> None:
    assert len(source_fingerprint()) == 16
    assert PlanCache(Path("unused")).fingerprint.startswith(source_fingerprint() + "|torch=")


def test_a_cached_plan_is_the_plan_lowered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    models = ["squeezenet1_1", "tests.tvm_models:small_conv"]  # a zoo network, a user's
    lowered = plan_campaign(dialect, target, models, [1])
    cache = PlanCache(tmp_path)
    assert plan_campaign(dialect, target, models, [1], cache=cache) == lowered
    assert len(list(tmp_path.glob("*.json"))) == 1  # the zoo's network only

    extract = dialect.extract
    lowered_again: list[object] = []

    def counted(model: object, *args: object, **kwargs: object) -> object:
        lowered_again.append(model)
        return extract(model, *args, **kwargs)

    monkeypatch.setattr(dialect, "extract", counted)
    assert plan_campaign(dialect, target, models, [1], cache=cache) == lowered
    assert len(lowered_again) == 1  # the user's model: its code may have changed


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lorien.files as files

    def full_disk(*args: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(files.os, "replace", full_disk)
    cache = PlanCache(tmp_path, fingerprint="f1")
    found = cache.workloads("resnet18", 1, CPU_A, "default", "b1", Lowerer([workload("aa")]))
    assert found == [workload("aa")]
    assert not list(tmp_path.iterdir())
