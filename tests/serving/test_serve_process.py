"""The service as users run it: ``lorien serve`` (BentoML really serving, a local worker really
tuning) and a built Bento served by ``bentoml serve``, all over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from lorien.dialects import get_dialect
from lorien.serving.client import ServiceClient, fetch_schedules, wait_until_ready
from tests.aws import free_port
from tests.tvm_models import small_mlp

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    not_ready = wait_until_ready(url, process, timeout_s=timeout_s, interval_s=0.5)
    assert not_ready is None, f"{not_ready}:\n{log.read_text()[-3000:]}"


@dataclass
class Served:
    url: str
    home: Path
    process: subprocess.Popen
    env: dict[str, str]

    @property
    def token(self) -> str:
        return (self.home / "service-token").read_text().strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("serve-home")
    env = {**os.environ, "LORIEN_HOME": str(home), "BENTOML_HOME": str(home / "bentoml"),
           "BENTOML_DO_NOT_TRACK": "True"}
    for name in ("LORIEN_STORE", "LORIEN_LOGS", "LORIEN_MODEL", "LORIEN_SERVICE_TOKEN"):
        env.pop(name, None)
    port = free_port()
    log = home / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lorien.cli.main", "serve", "--port", str(port), "--workers", "1",
             "--refill-trials", "2", "--refill-measure", "4"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield Served(url, home, process, env)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_miss_is_predicted_then_measured_then_tuned_by_the_local_worker(served: Served) -> None:
    """The answer's tiers in turn: predicted at once; measured once the local worker has run the
    measuring job (before the tuning job); tuned once the tuning job is done."""
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    workload = dialect.extract(dialect.load_model(small_mlp()), target)[0].workload
    with ServiceClient(served.url) as client:
        assert client.health()["record_groups"] > 80  # seeded with Lorien's tuned schedules
        started = time.perf_counter()
        [first] = client.schedules(target, [workload])
        assert first["status"] == "predicted" and first["job"]["state"] in ("waiting", "running")
        assert first["measure_job"]["tier"] == "measure"
        assert time.perf_counter() - started < 60

        def finished(job_id: str) -> dict:
            deadline = time.monotonic() + 300
            while (job := client.job(job_id))["state"] not in ("done", "failed"):
                assert time.monotonic() < deadline, job
                time.sleep(0.5)
            assert job["state"] == "done", job
            return job

        measuring = finished(first["measure_job"]["job_id"])
        middle = client.schedule(target, workload.key)
        tuning = client.job(first["job"]["job_id"])
        assert middle["status"] == "measured" or tuning["state"] == "done", (middle, tuning)
        assert middle["measure_job"] == {}  # measured here: no second measuring job
        tuning = finished(first["job"]["job_id"])
        assert measuring["updated_at"] <= tuning["updated_at"]
        assert measuring["result"]["measured"] >= 1 and measuring["result"]["best_seconds"] > 0
        answer = client.schedule(target, workload.key)
        assert (answer["status"], answer["match"], answer["job"]) == ("tuned", "exact", {})
        assert answer["record"]["latency"]["mean"] == tuning["result"]["best_seconds"]


@pytest.mark.exclusive  # a budget of seconds must measure something
def test_lorien_compile_asks_the_service_once_for_the_whole_model_within_a_budget(served: Served) -> None:
    """The service measures the model's kernel for the budget (the client finds the token that
    ``lorien serve`` wrote for this user) and answers measured; its local worker still tunes."""
    result = subprocess.run(
        [sys.executable, "-m", "lorien.cli.main", "compile", "--model", "tests/tvm_models.py:small_conv",
         "--service", served.url, "--budget", "20", "--no-baselines", "--json", "--repeat", "1"],
        env=served.env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kernels_scheduled"] == summary["kernels"] == 1
    assert summary["answers"] == {"tuned": 0, "measured": 1, "predicted": 0, "missing": 0}


def test_the_compiler_hook_over_http_builds_with_the_services_schedules(served: Served) -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    model = dialect.load_model(small_mlp())
    workloads = [use.workload for use in dialect.extract(model, target)]
    with ServiceClient(served.url) as client, fetch_schedules(client, target, workloads) as fetched:
        compiled = dialect.compile(model, target, fetched.store)
    assert compiled.kernels_scheduled == compiled.kernels == 1
    assert dialect.time(compiled, 1).mean > 0


def test_a_model_the_service_knows_is_asked_for_by_key_in_one_small_request(served: Served) -> None:
    """Keys first: the kernels a service does not know yet are sent whole once, after a request by
    key; once it knows them, the whole model is one request of keys (no payloads)."""
    from tests.tvm_models import small_layer_norm

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    workloads = [use.workload for use in dialect.extract(dialect.load_model(small_layer_norm()), target)]
    sent: list[tuple[int, dict]] = []
    with ServiceClient(served.url) as client:
        client._http.event_hooks["request"].append(
            lambda request: sent.append((len(request.content), json.loads(request.content))))
        first = client.schedules(target, workloads)
        assert len(sent) == 2  # by key, then the unknown kernels whole
        assert "payload" not in json.dumps(sent[0][1]) and "payload" in json.dumps(sent[1][1])
        assert [a["key"] for a in first] == [w.key for w in workloads]
        assert all(a["status"] in ("predicted", "missing", "tuned", "measured") for a in first)
        again = client.schedules(target, workloads)
        assert len(sent) == 3 and "payload" not in json.dumps(sent[2][1])
        assert sent[2][0] < sent[1][0] / 10  # keys only: a fraction of the payloads' bytes
        assert "unknown" not in {a["status"] for a in again}  # the local worker may have tuned it since
        whole = client.schedules(target, workloads, keys_first=False)
        assert len(sent) == 4 and "payload" in json.dumps(sent[3][1])
        assert [a["key"] for a in whole] == [w.key for w in workloads]


def test_writes_need_the_token_and_bad_input_is_a_4xx(served: Served) -> None:
    key = "0123456789abcdef"
    refused = httpx.post(f"{served.url}/enqueue", json={"target": "host", "key": key})
    assert refused.status_code == 401
    with ServiceClient(served.url, token=served.token) as client:
        with pytest.raises(Exception, match="unknown tvm workload"):
            client.enqueue("host", key)
    assert httpx.post(f"{served.url}/schedule", json={"target": "{", "key": key}).status_code == 400
    budgeted = {"target": "host", "workloads": [{"key": key}], "budget_s": 5}
    assert httpx.post(f"{served.url}/schedules", json=budgeted).status_code == 401  # it measures here
    too_long = httpx.post(f"{served.url}/schedules", json={**budgeted, "budget_s": 10_000},
                          headers={"Authorization": f"Bearer {served.token}"})
    assert too_long.status_code == 400 and "budget_s" in too_long.text
    assert httpx.get(f"{served.url}/metrics").status_code == 200
    assert "lorien_answers" in httpx.get(f"{served.url}/metrics").text


def test_hostile_payloads_are_refused_and_the_service_keeps_serving(served: Served) -> None:
    """Every crash class of kernel payloads and targets (on the open endpoints) and of schedules
    (on /commit, with the token), sent over HTTP while a legitimate client keeps asking: each hostile request
    is a 400 with a one-line reason, no connection drops, every legitimate request is answered,
    and the service's processes are the ones that started."""
    import threading

    from tests.payload_corpus import (
        HOSTILE_TARGETS,
        hostile_payloads,
        hostile_schedules,
        shipped_workload_and_schedule,
    )

    workload, schedule = shipped_workload_and_schedule()
    processes = api_processes(served)
    assert processes
    legit: list[int] = []
    stop = threading.Event()

    def legitimate_client() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                answer = client.post(f"{served.url}/schedule",
                                     json={"target": "host", "key": workload.key, "predict": False})
                legit.append(answer.status_code)

    thread = threading.Thread(target=legitimate_client)
    thread.start()
    try:
        with httpx.Client(timeout=120) as client:
            for name, payload in hostile_payloads(workload).items():
                body = {**workload.to_dict(), "payload": payload}
                for path, request in (("/schedule", {"target": "host", "workload": body}),
                                      ("/schedules", {"target": "host", "workloads": [{"workload": body}]}),
                                      ("/predict", {"target": "host", "workload": body})):
                    answer = client.post(f"{served.url}{path}", json=request)
                    assert answer.status_code == 400, (name, path, answer.text)
                    assert "\n" not in answer.text, (name, path)
            for name, hostile_target in HOSTILE_TARGETS.items():
                for path in ("/schedule", "/predict"):
                    answer = client.post(f"{served.url}{path}", json={"target": hostile_target,
                                                                     "key": workload.key})
                    assert answer.status_code == 400, (name, path, answer.text)
            target = get_dialect("tvm").parse_target("host")
            record = {"dialect": "tvm", "workload_key": workload.key, "target": target.to_dict(),
                      "build": get_dialect("tvm").build_id(), "latency": {"runs": [1e-3]}}
            auth = {"Authorization": f"Bearer {served.token}"}
            for name, hostile in hostile_schedules(schedule).items():
                answer = client.post(f"{served.url}/commit", headers=auth,
                                     json={"records": [{**record, "schedule": hostile}]})
                assert answer.status_code == 400 and "schedule" in answer.text, (name, answer.text)
    finally:
        stop.set()
        thread.join()
    assert legit and set(legit) == {200}, legit
    assert api_processes(served) == processes  # no API process died and was replaced


def api_processes(served: Served) -> set[int]:
    """The BentoML server's processes (not the tuning workers, whose children come and go)."""
    found = set()
    for child in psutil.Process(served.process.pid).children(recursive=True):
        try:
            if "bentoml" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:
            continue
    return found


def test_stopping_lorien_serve_stops_the_server_and_its_workers(served: Served) -> None:
    children = psutil.Process(served.process.pid).children(recursive=True)
    assert len(children) >= 2  # BentoML's server and the worker
    served.process.terminate()
    assert served.process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


def test_a_built_bento_serves_the_same_api(tmp_path: Path) -> None:
    # BentoML fixes its home when first used in a process, so the model is registered by a process
    # of its own, in the home the build and the server below use.
    env = {**os.environ, "LORIEN_STORE": f"sqlite:///{tmp_path}/s.db",
           "BENTOML_HOME": str(tmp_path / "bento")}
    register = "from lorien.training.shipped import ensure_shipped_model; ensure_shipped_model()"
    registered = subprocess.run([sys.executable, "-c", register], env=env, capture_output=True, text=True,
                                timeout=120)
    assert registered.returncode == 0, registered.stderr
    from lorien.config import open_store
    from lorien.datasets.seed import seed_store

    with open_store(env["LORIEN_STORE"], create=True) as store:
        seed_store(store)
        record = next(store.records())
    built = subprocess.run([sys.executable, "-m", "bentoml", "build", "-f", "serving/bentofile.yaml", ".",
                            "--output", "tag"],
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    port, log = free_port(), tmp_path / "bento.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1",
                                    "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        with ServiceClient(url) as client:
            assert client.model()["tag"].startswith("lorien-cost-model:")
            answer = client.schedule(record.target, record.workload_key)
            assert (answer["status"], answer["match"]) == ("tuned", "exact")
    finally:
        process.terminate()
        process.wait(timeout=60)
