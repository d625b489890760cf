"""The tuning-log format: round trip, failures kept, damaged logs read as far as possible."""

from __future__ import annotations

import gzip

import pytest

from lorien.errors import InvalidInput
from lorien.records import Latency
from lorien.testing.factories import CPU_A, workload
from lorien.tuning_log import Measurement, TuningLog, distinct_measurements, parse_tuning_log, relative_scores


def make_log(n: int = 50) -> TuningLog:
    measurements = tuple(
        Measurement(f"s{i}", None, "build timed out") if i % 7 == 0
        else Measurement(f"s{i}", Latency((1e-3 * (i + 1),)))
        for i in range(n)
    )
    return TuningLog(workload(), CPU_A, "fake-1", n, 1.0, 2.0, measurements)


def test_round_trip_keeps_failures_labelled() -> None:
    log = make_log()
    parsed = parse_tuning_log(log.to_bytes())
    assert parsed.log == log
    assert (parsed.skipped_lines, parsed.truncated) == (0, False)
    failed = [m for m in parsed.log.measurements if not m.ok]
    assert len(failed) == 8 and all(m.error == "build timed out" for m in failed)


def test_bytes_are_deterministic() -> None:
    assert make_log().to_bytes() == make_log().to_bytes()


def test_truncated_log_keeps_what_is_readable() -> None:
    data = make_log(2000).to_bytes()
    parsed = parse_tuning_log(data[: len(data) // 2])
    assert parsed.truncated
    assert 0 < len(parsed.log.measurements) < 2000


def test_malformed_lines_are_skipped_and_counted() -> None:
    text = gzip.decompress(make_log(5).to_bytes()).decode().splitlines()
    text.insert(2, "{not json")
    text.insert(3, '{"type": "measurement"}')
    parsed = parse_tuning_log(gzip.compress("\n".join(text).encode()))
    assert parsed.skipped_lines == 2
    assert len(parsed.log.measurements) == 5


@pytest.mark.parametrize("data", [b"", b"garbage", gzip.compress(b'{"type": "measurement"}\n', mtime=0)],
                         ids=["empty", "garbage", "gzip-without-header"])  # ids equal in every worker
def test_not_a_log_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_tuning_log(data)


def test_origins_round_trip_and_an_unknown_one_is_skipped() -> None:
    import json

    log = TuningLog(workload(), CPU_A, "fake-1", 2, 1.0, 2.0,
                    (Measurement("a", Latency((1e-3,))), Measurement("b", Latency((2e-3,)), origin="random")))
    parsed = parse_tuning_log(log.to_bytes())
    assert [m.origin for m in parsed.log.measurements] == ["search", "random"]
    lines = gzip.decompress(log.to_bytes()).decode().splitlines()
    assert "origin" not in lines[1]  # a search measurement is written as before
    odd = json.loads(lines[2]) | {"origin": "guessed"}
    damaged = gzip.compress("\n".join([*lines[:2], json.dumps(odd)]).encode())
    again = parse_tuning_log(damaged)
    assert (len(again.log.measurements), again.skipped_lines) == (1, 1)


def test_relative_scores_are_best_over_latency_and_zero_when_failed() -> None:
    measured = [Measurement("a", Latency((0.004,))), Measurement("b", None, error="build"),
                Measurement("c", Latency((0.002,)))]
    assert relative_scores(measured) == [0.5, 0.0, 1.0]
    assert relative_scores([Measurement("x", None, error="run")]) == [0.0]
    assert relative_scores([]) == []


def test_how_the_search_started_round_trips_and_older_logs_read_as_unrecorded() -> None:
    import dataclasses

    unrecorded = make_log(5)
    assert b"search" not in gzip.decompress(unrecorded.to_bytes())  # older logs stay byte-identical
    assert parse_tuning_log(unrecorded.to_bytes()).log.search is None
    for search in ("cold", "warm:search_model.json@0123456789ab"):
        log = dataclasses.replace(unrecorded, search=search)
        assert parse_tuning_log(log.to_bytes()).log == log


def test_the_measuring_machine_round_trips_and_odd_values_are_dropped() -> None:
    import dataclasses
    import json

    log = dataclasses.replace(make_log(3), machine={"cpu": "Xeon", "cores": 2, "l3_kib": 49152})
    assert parse_tuning_log(log.to_bytes()).log == log
    lines = gzip.decompress(log.to_bytes()).decode().splitlines()
    header = json.loads(lines[0])
    header["machine"] = {"cpu": "Xeon", "cores": True, "caches": [1, 2], "l2_kib": 1280}
    edited = gzip.compress("\n".join([json.dumps(header), *lines[1:]]).encode())
    assert parse_tuning_log(edited).log.machine == {"cpu": "Xeon", "l2_kib": 1280}
    assert parse_tuning_log(make_log(3).to_bytes()).log.machine is None


def test_labels_are_the_minimum_of_the_runs() -> None:
    calm, disturbed = Latency((2e-3, 2e-3, 2e-3)), Latency((1e-3, 5e-3, 6e-3))
    scores = relative_scores([Measurement("calm", calm), Measurement("disturbed", disturbed)])
    assert scores == pytest.approx([0.5, 1.0])  # by their means: calm 1, disturbed 0.5


def test_a_schedule_timed_twice_is_one_measurement_with_every_run() -> None:
    timed = [
        Measurement("a", Latency((3e-3, 4e-3)), origin="neighbour"),
        Measurement("b", None, "did not build", origin="random"),
        Measurement("a", Latency((2e-3,)), origin="random"),
        Measurement("c", Latency((1e-3,))),
        Measurement("b", None, "did not build"),
        Measurement("c", None, "run timed out", origin="random"),
    ]
    merged, firsts = distinct_measurements(timed)
    assert [m.schedule for m in merged] == ["a", "b", "c"] and firsts == [0, 1, 3]
    assert merged[0].latency == Latency((3e-3, 4e-3, 2e-3)) and merged[0].origin == "random"
    assert merged[1] is timed[1]  # failed every time: its first copy
    assert merged[2] == timed[3]  # a failed copy does not fail a schedule timed elsewhere
    assert relative_scores(merged) == pytest.approx([0.5, 0.0, 1.0])
    assert distinct_measurements([]) == ([], [])
