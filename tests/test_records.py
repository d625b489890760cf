"""The data model: validation, serialisation, and the best-N reference semantics."""

from __future__ import annotations

import pytest

from lorien.errors import InvalidInput
from lorien.records import Latency, ScheduleRecord, best_per_group
from lorien.testing.factories import CPU_B, record


def test_latency_statistics() -> None:
    lat = Latency((3.0, 1.0, 2.0))
    assert (lat.mean, lat.median, lat.min) == (2.0, 2.0, 1.0)
    assert Latency((1.0,)).std == 0.0


@pytest.mark.parametrize("runs", [(), (0.0,), (-1.0,), (float("inf"),), (float("nan"),)])
def test_invalid_latencies_are_rejected(runs: tuple[float, ...]) -> None:
    with pytest.raises(InvalidInput):
        Latency(runs)


def test_record_dict_round_trip_and_id() -> None:
    rec = record(seconds=2e-3, target=CPU_B, source="predicted")
    again = ScheduleRecord.from_dict(rec.to_dict())
    assert again == rec and again.record_id == rec.record_id
    assert record(schedule="x").record_id != record(schedule="y").record_id
    assert record(schedule="x", seconds=1).record_id == record(schedule="x", seconds=2).record_id


def test_malformed_record_dicts_are_invalid_input() -> None:
    data = record().to_dict()
    del data["latency"]
    with pytest.raises(InvalidInput):
        ScheduleRecord.from_dict(data)
    with pytest.raises(InvalidInput):
        ScheduleRecord.from_dict({**record().to_dict(), "source": "guessed"})
    with pytest.raises(InvalidInput):
        ScheduleRecord.from_dict({**record().to_dict(), "schedule": ""})


def test_best_per_group_keeps_fastest_distinct() -> None:
    recs = [record(seconds=t) for t in (5, 1, 4, 2, 3)] + [record(seconds=0.5, schedule="sched-4")]
    kept = best_per_group(recs, 3)
    assert sorted(r.latency.mean for r in kept) == pytest.approx([0.5, 1, 2])
