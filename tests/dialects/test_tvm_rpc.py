"""Measuring on devices of a TVM RPC tracker, and the probe workers ask before and during a job.

Real trackers and servers (``python -m tvm.exec.rpc_tracker`` / ``rpc_server``) on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lorien.dialects import RPCEndpoint, TuneOptions, get_dialect
from lorien.dialects.rpc import free_devices, tracker_problem, tracker_status
from lorien.errors import InvalidInput, TuningError
from lorien.testing.local_rpc import free_port, rpc_server, rpc_tracker, wait_registered
from lorien.tuning_log import parse_tuning_log
from tests import tvm_models


@pytest.mark.parametrize("text", [
    "", "host", "host:9190", "host:port:key", "host:0:key", "host:65536:key", ":9190:key",
    "host:9190:", "host:-1:key",
])
def test_malformed_endpoints_are_rejected(text: str) -> None:
    with pytest.raises(InvalidInput):
        RPCEndpoint.parse(text)


def test_an_endpoint_round_trips() -> None:
    endpoint = RPCEndpoint.parse("10.0.0.7:9190:rasp4b")
    assert endpoint == RPCEndpoint("10.0.0.7", 9190, "rasp4b")
    assert RPCEndpoint.parse(str(endpoint)) == endpoint


def test_nothing_listening_is_unreachable_at_once() -> None:
    endpoint = RPCEndpoint("127.0.0.1", free_port(), "k")
    started = time.monotonic()
    problem = tracker_problem(endpoint)
    assert time.monotonic() - started < 6
    assert problem == f"RPC tracker 127.0.0.1:{endpoint.port} is unreachable (Connection refused)"
    assert free_devices(endpoint) == 0


def test_a_silent_peer_times_out_within_the_bound() -> None:
    import socket

    with socket.socket() as listener:  # accepts (the kernel's backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        endpoint = RPCEndpoint("127.0.0.1", listener.getsockname()[1], "k")
        started = time.monotonic()
        problem = tracker_problem(endpoint, timeout_s=1.0)
        assert time.monotonic() - started < 2
    assert problem == f"RPC tracker 127.0.0.1:{endpoint.port} did not answer within 1 s"


def test_measuring_on_this_machine_has_no_problem() -> None:
    dialect = get_dialect("tvm")
    assert dialect.measurement_problem(dialect.parse_target("host"), TuneOptions()) is None


@pytest.fixture(scope="module")
def tracker() -> Iterator[tuple[str, int]]:
    with rpc_tracker() as address:
        yield address


def test_a_tracker_without_devices(tracker: tuple[str, int]) -> None:
    host, port = tracker
    endpoint = RPCEndpoint(host, port, "nobody")
    assert tracker_problem(endpoint) == f"no device registered under key 'nobody' at tracker {host}:{port}"
    dialect = get_dialect("tvm")
    problem = dialect.measurement_problem(dialect.parse_target("host"), TuneOptions(rpc=endpoint))
    assert problem == tracker_problem(endpoint)


def test_a_tracker_with_a_device(tracker: tuple[str, int]) -> None:
    host, port = tracker
    endpoint = RPCEndpoint(host, port, "one")
    with rpc_server(port, "one"):
        assert tracker_problem(endpoint) is None
        assert tracker_status(endpoint).registered == 1
        assert free_devices(endpoint) == 1
        assert tracker_problem(RPCEndpoint(host, port, "other")) is not None
        dialect = get_dialect("tvm")
        assert dialect.measurement_problem(dialect.parse_target("host"), TuneOptions(rpc=endpoint)) is None
    wait_registered(endpoint, 0)
    assert tracker_problem(endpoint) == f"no device registered under key 'one' at tracker {host}:{port}"


@pytest.mark.slow
def test_tuning_without_a_device_fails_at_once(tracker: tuple[str, int]) -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_mlp()), target)
    host, port = tracker
    options = TuneOptions(trials=4, seed=0, rpc=RPCEndpoint(host, port, "nobody"))
    started = time.monotonic()
    with pytest.raises(TuningError, match="no device registered under key 'nobody'"):
        dialect.tune(use.workload, target, options)
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_tuning_measures_on_rpc_devices(tracker: tuple[str, int]) -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_mlp()), target)
    host, port = tracker
    endpoint = RPCEndpoint(host, port, "pair")
    servers = [rpc_server(port, "pair") for _ in range(2)]
    try:
        assert tracker_status(endpoint).registered == 2
        options = TuneOptions(trials=4, keep=2, seed=0, rpc=endpoint, session_timeout_s=60, warm_start=False)
        outcome = dialect.tune(use.workload, target, options)
        served = [s.output().count("connected from") for s in servers]
    finally:
        for server in servers:
            server.kill()
    log = outcome.log
    assert len(log.measurements) == 4
    assert [m.error for m in log.measurements] == [None] * 4
    assert log.search == "cold"
    assert len(log.succeeded) == 4
    assert 1 <= len(outcome.records) <= 2
    for record in outcome.records:
        assert record.source == "tuned" and record.build == dialect.build_id()
        assert all(0 < run < 1.0 for run in record.latency.runs)
        assert len(record.latency.runs) == options.repeat
    assert outcome.best is not None
    assert outcome.best.latency.mean == min(m.latency.mean for m in log.succeeded)
    assert parse_tuning_log(log.to_bytes()).log.measurements == log.measurements
    # The candidates ran on the servers, not on this machine: both took sessions.
    assert sum(served) >= 4, served
