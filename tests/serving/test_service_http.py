"""The service over HTTP, in-process: every endpoint's answer, and the 4xx of every kind of bad
request, which must leave the store and the queue as they were."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lorien.config import open_queue, open_store
from lorien.queue import JobQueue
from lorien.records import ScheduleRecord
from lorien.serving.limits import MAX_BODY_BYTES
from lorien.serving.schemas import MAX_BATCH
from lorien.store.base import ScheduleStore
from lorien.training.shipped import shipped_metadata
from tests.serving.conftest import TOKEN, InProcessService

KEY = "0412f79e287d1277"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENDPOINTS = ("/schedule", "/schedules", "/predict", "/enqueue", "/commit", "/job", "/model", "/health")


@pytest.fixture(scope="module")
def store(in_process: InProcessService) -> Iterator[ScheduleStore]:
    with open_store(in_process.store_uri) as store:
        yield store


@pytest.fixture(scope="module")
def queue(in_process: InProcessService) -> Iterator[JobQueue]:
    with open_queue(in_process.store_uri) as queue:
        yield queue


@pytest.fixture(scope="module")
def logs_target(store: ScheduleStore) -> str:
    """The canonical target the seeded logs were tuned for."""
    return next(store.records(workload_key=KEY)).target.canonical


@pytest.fixture(scope="module")
def other_keys(store: ScheduleStore, logs_target: str) -> list[str]:
    """Seeded workloads other than KEY with records for the logs' target."""
    keys = sorted({r.workload_key for r in store.records() if r.target.canonical == logs_target} - {KEY})
    assert len(keys) >= 4
    return keys


@pytest.fixture
def client(in_process: InProcessService) -> Any:
    return in_process.client


def snapshot(store: ScheduleStore, queue: JobQueue) -> tuple[Any, ...]:
    """What a request could change: records, workloads, and every job's state and priority."""
    jobs = sorted((j.job_id, j.state, j.spec.priority, j.spec.trials, j.attempts) for j in queue.jobs())
    return store.count(), len(store.list_workloads()), tuple(jobs)


def error_message(response: Any) -> str:
    """The message of an error answer, after checking it has the service's one error body:
    ``{"error": <one line>, "reason": <a reason of its status>}`` (lorien.serving.contract)."""
    from lorien.serving.contract import ERROR_REASONS

    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error", "reason"}, body
    assert isinstance(body["error"], str) and body["error"].strip() and "\n" not in body["error"], body
    assert body["reason"] in ERROR_REASONS[response.status_code], (response.status_code, body)
    assert response.headers["content-type"] == "application/json"
    return body["error"]


# -- happy paths ---------------------------------------------------------------------------------------
def test_schedule_of_a_tuned_workload_for_its_exact_target(client: Any, logs_target: str,
                                                           store: ScheduleStore) -> None:
    response = client.post("/schedule", json={"target": logs_target, "key": KEY})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["key"] == KEY
    assert answer["status"] == "tuned"
    assert answer["match"] == "exact"
    assert answer["job"] == {}
    record = ScheduleRecord.from_dict(answer["record"])
    assert record.workload_key == KEY and record.target.canonical == logs_target
    tuned = [r for r in store.records(workload_key=KEY) if r.target.canonical == logs_target]
    assert record.record_id == min(tuned, key=lambda r: r.latency.mean).record_id


def test_schedule_for_a_similar_target_is_loose_and_queues_tuning(client: Any, queue: JobQueue) -> None:
    answers = []
    other_cpu = '{"kind": "llvm", "mcpu": "znver3", "num-cores": 2}'  # not the shipped logs' CPU
    for _ in range(3):
        response = client.post("/schedule", json={"target": other_cpu, "key": KEY})
        assert response.status_code == 200, response.text
        answers.append(response.json())
    assert {a["status"] for a in answers} == {"tuned"}
    assert {a["match"] for a in answers} == {"loose"}
    jobs = [a["job"] for a in answers]
    assert len({j["job_id"] for j in jobs}) == 1
    assert {j["state"] for j in jobs} == {"waiting"}
    first = jobs[0]["priority"]
    assert [j["priority"] for j in jobs] == [first, first + 1, first + 2]
    stored = queue.get(jobs[0]["job_id"])
    assert stored is not None and stored.spec.workload_key == KEY
    assert stored.spec.priority == first + 2

    response = client.post("/job", json={"job_id": jobs[0]["job_id"]})
    assert response.status_code == 200, response.text
    job = response.json()["job"]
    assert job["job_id"] == jobs[0]["job_id"]
    assert job["state"] == "waiting"
    assert job["spec"]["workload_key"] == KEY
    assert job["spec"]["priority"] == first + 2


def test_schedules_answers_a_batch_in_order(client: Any, store: ScheduleStore, logs_target: str,
                                           other_keys: list[str]) -> None:
    whole = store.get_workload("tvm", other_keys[2])
    assert whole is not None
    refs = [{"key": other_keys[1]}, {"key": KEY}, {"key": other_keys[0]}, {"workload": whole.to_dict()}]
    response = client.post("/schedules", json={"target": logs_target, "workloads": refs})
    assert response.status_code == 200, response.text
    batch = response.json()
    assert [a["key"] for a in batch["answers"]] == [other_keys[1], KEY, other_keys[0], other_keys[2]]
    assert {a["status"] for a in batch["answers"]} == {"tuned"}
    assert {a["match"] for a in batch["answers"]} == {"exact"}
    assert (batch["tuned"], batch["predicted"], batch["missing"]) == (4, 0, 0)
    assert batch["seconds"] >= 0


def test_schedules_counts_what_is_missing(client: Any, other_keys: list[str], queue: JobQueue) -> None:
    key = other_keys[3]
    refs = [{"key": key}, {"key": KEY}]
    response = client.post("/schedules", json={"target": "cuda", "workloads": refs, "predict": False})
    assert response.status_code == 200, response.text
    batch = response.json()
    assert [a["key"] for a in batch["answers"]] == [key, KEY]
    assert {a["status"] for a in batch["answers"]} == {"missing"}
    assert (batch["tuned"], batch["predicted"], batch["missing"]) == (0, 0, 2)
    for answer in batch["answers"]:
        assert answer["detail"] and answer["record"] == {}
        job = queue.get(answer["job"]["job_id"])
        assert job is not None and json.loads(job.spec.target.canonical)["kind"] == "cuda"


def test_model_names_the_shipped_cost_model(client: Any) -> None:
    response = client.post("/model")
    assert response.status_code == 200, response.text
    model = response.json()
    assert model["tag"].startswith("lorien-cost-model:")
    assert model["metadata"]["feature_version"] == shipped_metadata()["feature_version"]
    assert model["metadata"]["targets"]


def test_health_reports_the_store_and_the_queue(client: Any, queue: JobQueue,
                                                store: ScheduleStore) -> None:
    """The counts are sampled (this service counts again after every answer, in the background):
    within a few answers they are the queue's and the store's own."""
    expected = (queue.counts(), sum(1 for _ in store.groups()))
    deadline = time.monotonic() + 30
    while True:
        response = client.post("/health")
        assert response.status_code == 200, response.text
        health = response.json()
        if (health["queue"], health["record_groups"]) == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert health["ok"] is True and health["detail"] == ""
    assert health["store"] == store.uri
    assert health["queue"] == expected[0] and health["counts_age_s"] >= 0
    assert set(health["queue"]) >= {"waiting", "running", "done", "failed", "cancelled"}
    assert health["record_groups"] == expected[1] > 0
    assert health["model"] == client.post("/model").json()["tag"]
    for probe in ("/readyz", "/livez", "/healthz"):
        assert client.get(probe).status_code == 200


def test_enqueue_with_the_token_queues_a_job(client: Any, other_keys: list[str],
                                             queue: JobQueue) -> None:
    key = other_keys[0]
    before = queue.counts()
    body = {"target": "host", "key": key, "priority": 7, "trials": 5}
    response = client.post("/enqueue", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["enqueued"] == "added"
    job = answer["job"]
    assert job["state"] == "waiting"
    assert job["spec"]["workload_key"] == key
    assert (job["spec"]["priority"], job["spec"]["trials"]) == (7, 5)
    assert queue.counts()["waiting"] == before["waiting"] + 1
    stored = queue.get(job["job_id"])
    assert stored is not None and stored.spec.priority == 7

    again = client.post("/enqueue", json=body, headers=AUTH)
    assert again.status_code == 200, again.text
    assert again.json()["job"]["job_id"] == job["job_id"]
    assert queue.counts()["waiting"] == before["waiting"] + 1


def test_commit_with_the_token_stores_records(client: Any, other_keys: list[str],
                                              store: ScheduleStore) -> None:
    key = other_keys[3]
    record = next(store.records(workload_key=key)).to_dict()
    record["target"] = {"canonical": '{"keys":["cpu"],"kind":"llvm","mcpu":"znver3","num-cores":3}',
                        "loose_key": "llvm_cpu"}
    record["latency"] = {"runs": [1.0, 1.1]}
    before = store.count(workload_key=key)
    response = client.post("/commit", json={"records": [record]}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"workloads": 0, "kept": 1, "dropped": 0}
    assert store.count(workload_key=key) == before + 1


def test_predict_chooses_a_schedule_and_stores_nothing(client: Any, store: ScheduleStore,
                                                       queue: JobQueue) -> None:
    before = snapshot(store, queue)
    response = client.post("/predict", json={"target": "host", "key": KEY})
    assert response.status_code == 200, response.text
    prediction = response.json()
    assert prediction["key"] == KEY
    record = ScheduleRecord.from_dict(prediction["record"])
    assert record.workload_key == KEY and record.source == "predicted"
    assert prediction["origin"]
    assert snapshot(store, queue) == before


# -- bad requests ------------------------------------------------------------------------------------
def _seeded_workload(store: ScheduleStore) -> dict[str, Any]:
    workload = store.get_workload("tvm", KEY)
    assert workload is not None
    return workload.to_dict()


def _bad_workload_key(store: ScheduleStore) -> dict[str, Any]:
    return {"target": "host", "workload": {**_seeded_workload(store), "key": "0412f79e287d1278"}}


def _unreadable_payload(store: ScheduleStore) -> dict[str, Any]:
    return {"target": "host", "workload": {**_seeded_workload(store), "payload": "{\"not\": \"tvm\"]"}}


def _key_differs_from_workload(store: ScheduleStore) -> dict[str, Any]:
    return {"target": "host", "key": "0412f79e287d1278", "workload": _seeded_workload(store)}


BAD_SCHEDULE_BODIES = {
    "unknown key": (404, lambda s: {"target": "host", "key": "ffffffffffffffff"}, "unknown"),
    "malformed target JSON": (400, lambda s: {"target": '{"kind": "llvm"', "key": KEY}, "target"),
    "target not an object": (400, lambda s: {"target": "[1, 2]", "key": KEY}, "target"),
    "unreadable target": (400, lambda s: {"target": "llvm -mcpu=x", "key": KEY}, "target"),
    "unknown target kind": (400, lambda s: {"target": '{"kind": "no-such-kind"}', "key": KEY}, "target"),
    "blank target": (400, lambda s: {"target": "   ", "key": KEY}, "target"),
    "no workload named": (400, lambda s: {"target": "host"}, "name a workload"),
    "unknown dialect": (400, lambda s: {"target": "host", "key": KEY, "dialect": "no-such"}, "dialect"),
    "unknown dialect beside a whole workload": (
        400, lambda s: {"target": "host", "workload": _seeded_workload(s), "dialect": "no-such"}, "dialect"),
    "key not of its payload": (400, _bad_workload_key, "does not match"),
    "key differs from the workload's": (400, _key_differs_from_workload, "differ"),
    "unreadable payload": (400, _unreadable_payload, "payload"),
    "malformed key": (400, lambda s: {"target": "host", "key": "no/such key"}, "key"),
}


@pytest.mark.parametrize("endpoint", ["/schedule", "/predict"])
@pytest.mark.parametrize("case", list(BAD_SCHEDULE_BODIES), ids=str)
def test_bad_workload_or_target_is_refused(case: str, endpoint: str, client: Any, store: ScheduleStore,
                                           queue: JobQueue) -> None:
    status, body, word = BAD_SCHEDULE_BODIES[case]
    before = snapshot(store, queue)
    response = client.post(endpoint, json=body(store))
    assert response.status_code == status, response.text
    assert word.lower() in error_message(response).lower()
    assert snapshot(store, queue) == before


def test_a_batch_with_one_bad_workload_changes_nothing(client: Any, other_keys: list[str],
                                                       store: ScheduleStore, queue: JobQueue) -> None:
    before = snapshot(store, queue)
    refs = [{"key": other_keys[1]}, {"key": KEY}, {"key": "ffffffffffffffff"}]
    response = client.post("/schedules", json={"target": "host", "workloads": refs, "predict": False})
    assert response.status_code == 404, response.text
    assert "ffffffffffffffff" in error_message(response)
    assert snapshot(store, queue) == before


def test_unknown_keys_can_be_answered_so_the_client_sends_only_those_whole(
        client: Any, other_keys: list[str], store: ScheduleStore, queue: JobQueue) -> None:
    """With ``unknown: "answer"`` an unknown key is answered ``unknown`` (nothing predicted or
    queued for it) beside the known ones; ``refill: false`` queues nothing at all."""
    before = snapshot(store, queue)
    refs = [{"key": "ffffffffffffffff"}, {"key": KEY}, {"key": "fffffffffffffffe"}]
    response = client.post("/schedules", json={"target": "cuda", "workloads": refs, "predict": False,
                                               "refill": False, "unknown": "answer"})
    assert response.status_code == 200, response.text
    batch = response.json()
    assert [a["status"] for a in batch["answers"]] == ["unknown", "missing", "unknown"]
    assert (batch["unknown"], batch["missing"]) == (2, 1)
    assert batch["answers"][0]["key"] == "ffffffffffffffff" and "whole" in batch["answers"][0]["detail"]
    assert snapshot(store, queue) == before  # refill: false
    response = client.post("/schedules", json={"target": "cuda", "workloads": refs, "predict": False,
                                               "unknown": "answer"})
    assert [bool(a["job"]) for a in response.json()["answers"]] == [False, True, False]
    response = client.post("/schedules", json={"target": "cuda", "workloads": refs, "unknown": "sometimes"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_a_batch_of_no_or_too_many_workloads_is_refused(size: int, client: Any, store: ScheduleStore,
                                                        queue: JobQueue) -> None:
    before = snapshot(store, queue)
    refs = [{"key": KEY}] * size
    response = client.post("/schedules", json={"target": "host", "workloads": refs, "predict": False})
    assert response.status_code == 400, response.text
    assert "workloads" in error_message(response)
    assert snapshot(store, queue) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body", [b"not json", b'{"target": "host", "key": ', b"\xff\xfe", b"[1, 2]"],
                         ids=["text", "truncated", "binary", "array"])
def test_a_body_that_is_not_a_json_object_is_refused(endpoint: str, body: bytes, client: Any,
                                                     store: ScheduleStore, queue: JobQueue) -> None:
    before = snapshot(store, queue)
    headers = {"content-type": "application/json", **AUTH}
    response = client.post(endpoint, content=body, headers=headers)
    assert response.status_code == 400, response.text
    error_message(response)
    assert snapshot(store, queue) == before


_PART = b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
FORM_BODIES = {
    "multipart without a boundary": ("multipart/form-data",
                                     json.dumps({"target": "host", "key": KEY}).encode()),
    "multipart": ("multipart/form-data; boundary=b",
                  _PART % (b"target", b"host") + _PART % (b"key", KEY.encode()) + b"--b--\r\n"),
    "url-encoded": ("application/x-www-form-urlencoded", f"target=host&key={KEY}".encode()),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("form", list(FORM_BODIES))
def test_a_form_body_is_refused(form: str, endpoint: str, client: Any, store: ScheduleStore,
                                queue: JobQueue) -> None:
    """BentoML would read it as form fields (and answer 500 to a multipart body without a boundary)."""
    content_type, body = FORM_BODIES[form]
    before = snapshot(store, queue)
    response = client.post(endpoint, content=body, headers={"content-type": content_type, **AUTH})
    assert response.status_code == 415, response.text
    assert "application/json" in error_message(response)
    assert snapshot(store, queue) == before


def _oversized_request() -> bytes:
    padding = "x" * (MAX_BODY_BYTES + 1)
    return json.dumps({"target": "host", "key": KEY, "dialect": padding}).encode()


@pytest.mark.parametrize("endpoint", ["/schedule", "/commit"])
def test_a_body_over_the_limit_is_refused_by_its_declared_length(endpoint: str, client: Any,
                                                                 store: ScheduleStore,
                                                                 queue: JobQueue) -> None:
    before = snapshot(store, queue)
    body = _oversized_request()
    headers = {"content-type": "application/json", **AUTH}
    response = client.post(endpoint, content=body, headers=headers)
    assert response.request.headers["content-length"] == str(len(body))
    assert response.status_code == 413, response.text
    assert str(MAX_BODY_BYTES) in error_message(response)
    assert snapshot(store, queue) == before


def test_a_body_over_the_limit_is_refused_without_a_declared_length(client: Any, store: ScheduleStore,
                                                                   queue: JobQueue) -> None:
    before = snapshot(store, queue)
    body = _oversized_request()

    def chunks() -> Iterator[bytes]:
        yield body

    response = client.post("/schedule", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert snapshot(store, queue) == before


def test_a_streamed_body_over_the_limit_is_refused(in_process: InProcessService, store: ScheduleStore,
                                                   queue: JobQueue) -> None:
    """Chunk by chunk, as a server delivers a chunked upload: refused once the chunks pass the limit."""
    import anyio

    chunk = b" " * (1024 * 1024)
    messages = [{"type": "http.request", "body": b'{"target": "host", "key": "' + KEY.encode() + b'"',
                 "more_body": True}]
    messages += [{"type": "http.request", "body": chunk, "more_body": True}] * (MAX_BODY_BYTES // len(chunk))
    messages += [{"type": "http.request", "body": b"}", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/schedule", "raw_path": b"/schedule", "root_path": "",
             "query_string": b"", "headers": [(b"host", b"testserver"),
                                             (b"content-type", b"application/json"),
                                             (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}
    before = snapshot(store, queue)
    anyio.run(in_process.app, scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 413
    assert str(MAX_BODY_BYTES).encode() in b"".join(m.get("body", b"") for m in sent[1:])
    assert messages, "the whole body was read"
    assert snapshot(store, queue) == before


def test_a_malformed_content_length_is_refused(client: Any) -> None:
    response = client.post("/health", content=b"{}", headers={"content-type": "application/json",
                                                               "content-length": "2x"})
    assert response.status_code in (400, 413), response.text


# -- writes need the token -----------------------------------------------------------------------------
def _enqueue_body(other_keys: list[str]) -> dict[str, Any]:
    return {"target": "host", "key": other_keys[2], "priority": 3}


def _commit_body(store: ScheduleStore) -> dict[str, Any]:
    record = next(store.records(workload_key=KEY)).to_dict()
    record["latency"] = {"runs": [0.5]}
    record["target"] = {"canonical": '{"keys":["cpu"],"kind":"llvm","mcpu":"haswell","num-cores":5}',
                        "loose_key": "llvm_cpu"}
    return {"records": [record]}


@pytest.mark.parametrize("endpoint", ["/enqueue", "/commit"])
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Bearer ", "test-token",
                                           "Basic dGVzdC10b2tlbg=="],
                         ids=["none", "wrong", "empty", "no-scheme", "basic"])
def test_writes_without_the_token_are_refused(endpoint: str, authorization: str | None, client: Any,
                                              other_keys: list[str], store: ScheduleStore,
                                              queue: JobQueue) -> None:
    body = _enqueue_body(other_keys) if endpoint == "/enqueue" else _commit_body(store)
    headers = {} if authorization is None else {"Authorization": authorization}
    before = snapshot(store, queue)
    response = client.post(endpoint, json=body, headers=headers)
    assert response.status_code == 401, response.text
    error_message(response)  # BentoML replaces the message of every 401 with "Authorization error"
    assert snapshot(store, queue) == before


ENQUEUE_ERRORS = {
    "unknown key": (404, {"target": "host", "key": "ffffffffffffffff"}),
    "malformed target": (400, {"target": "{kind", "key": KEY}),
    "no workload named": (400, {"target": "host"}),
    "unknown dialect": (400, {"target": "host", "key": KEY, "dialect": "no-such"}),
    "priority out of range": (400, {"target": "host", "key": KEY, "priority": 1001}),
    "no trials": (400, {"target": "host", "key": KEY, "trials": 0}),
}


@pytest.mark.parametrize("case", list(ENQUEUE_ERRORS))
def test_a_bad_enqueue_is_refused(case: str, client: Any, store: ScheduleStore,
                                  queue: JobQueue) -> None:
    status, body = ENQUEUE_ERRORS[case]
    before = snapshot(store, queue)
    response = client.post("/enqueue", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    error_message(response)
    assert snapshot(store, queue) == before


def _record_of_unknown_workload(store: ScheduleStore) -> dict[str, Any]:
    record = _commit_body(store)["records"][0]
    return {"records": [{**record, "workload_key": "ffffffffffffffff"}]}


def _one_good_one_malformed(store: ScheduleStore) -> dict[str, Any]:
    record = _commit_body(store)["records"][0]
    return {"records": [record, {**record, "latency": {"runs": [-1.0]}}]}


COMMIT_ERRORS = {
    "unknown workload": (404, _record_of_unknown_workload, "unknown workload"),
    "no latency": (400, lambda s: {"records": [{k: v for k, v in _commit_body(s)["records"][0].items()
                                                if k != "latency"}]}, "malformed"),
    "not a record": (400, lambda s: {"records": [{"schedule": "x"}]}, "malformed"),
    "negative latency": (400, _one_good_one_malformed, "latency"),
    "unknown source": (400, lambda s: {"records": [{**_commit_body(s)["records"][0], "source": "guessed"}]},
                       "source"),
    "unknown dialect": (400, lambda s: {"records": [{**_commit_body(s)["records"][0], "dialect": "no-such"}]},
                        "dialect"),
    "no records": (400, lambda s: {"records": []}, "records"),
    "workload not of its payload": (400, lambda s: {**_commit_body(s), "workloads": [
        {**_seeded_workload(s), "key": "0412f79e287d1278"}]}, "does not match"),
}


@pytest.mark.parametrize("case", list(COMMIT_ERRORS))
def test_a_bad_commit_is_refused(case: str, client: Any, store: ScheduleStore,
                                 queue: JobQueue) -> None:
    status, body, word = COMMIT_ERRORS[case]
    before = snapshot(store, queue)
    response = client.post("/commit", json=body(store), headers=AUTH)
    assert response.status_code == status, response.text
    assert word in error_message(response)
    assert snapshot(store, queue) == before


@pytest.mark.parametrize(("job_id", "status"), [("0123456789abcdef0123", 404), ("not-hex!", 400), ("", 400)])
def test_job_of_an_unknown_or_malformed_id(job_id: str, status: int, client: Any) -> None:
    response = client.post("/job", json={"job_id": job_id})
    assert response.status_code == status, response.text
    error_message(response)


# -- the OpenAPI document --------------------------------------------------------------------------------
def test_docs_are_a_valid_openapi_document_of_every_endpoint(client: Any) -> None:
    from openapi_spec_validator import OpenAPIV31SpecValidator

    response = client.get("/docs.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "Lorien"
    OpenAPIV31SpecValidator(doc).validate()
    assert set(ENDPOINTS) <= set(doc["paths"])
    for path in ENDPOINTS:
        operation = doc["paths"][path]["post"]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert list(operation["requestBody"]["content"]) == ["application/json"]
        assert "pickle" not in json.dumps(operation["requestBody"]).lower()
        assert operation.get("description"), path
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            for media in operation.get("requestBody", {}).get("content", {}):
                assert "pickle" not in media.lower(), (path, method, media)


def test_predict_with_every_slot_taken_is_429_with_a_message(client: Any, store: ScheduleStore,
                                                           queue: JobQueue,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from lorien.serving.provider import Busy, ScheduleProvider

    def busy(*args: object, **kwargs: object) -> None:
        raise Busy("the service is busy: its 2 prediction slot(s) stayed taken for 30 s; retry later")

    monkeypatch.setattr(ScheduleProvider, "predict_only", busy)
    before = snapshot(store, queue)
    response = client.post("/predict", json={"target": "host", "key": KEY})
    assert response.status_code == 429
    assert "busy" in error_message(response)
    assert snapshot(store, queue) == before
