"""The service's API contract: the OpenAPI document says what the service does, every error has the
one body, and a client generated from the document by a maintained generator works."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from lorien.dialects import available_dialects
from lorien.jobs import JOB_STATES, JOB_TIERS
from lorien.serving.contract import ERROR_REASONS, ERROR_SCHEMA, OPERATION_ERRORS, OPERATION_SECURITY
from lorien.store.base import ScheduleStore
from tests.serving.conftest import TOKEN, InProcessService

KEY = "0412f79e287d1277"


@pytest.fixture(scope="module")
def doc(in_process: InProcessService) -> dict[str, Any]:
    response = in_process.client.get("/docs.json")
    assert response.status_code == 200
    return response.json()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in doc["paths"].values():
        for operation in item.values():
            if "x-bentoml-name" in operation:
                yield operation["x-bentoml-name"], operation


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_every_operation_documents_each_status_it_answers_with_the_one_error_body(
        doc: dict[str, Any]) -> None:
    assert sorted(name for name, _ in _operations(doc)) == sorted(OPERATION_ERRORS)
    assert doc["components"]["schemas"]["Error"] == ERROR_SCHEMA
    for name, operation in _operations(doc):
        statuses = {int(s) for s in operation["responses"]}
        assert statuses == {200, *OPERATION_ERRORS[name], 500}, name
        for status, response in operation["responses"].items():
            if status != "200":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (name, status)
    assert len({op["operationId"] for item in doc["paths"].values() for op in item.values()}) == sum(
        len(item) for item in doc["paths"].values())


def test_the_token_is_a_declared_security_scheme_on_what_needs_it(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearer"][
            "description"]}
    for name, operation in _operations(doc):
        assert operation.get("security") == OPERATION_SECURITY.get(name), name
        if name in OPERATION_SECURITY:
            assert "401" in operation["responses"]
    assert OPERATION_SECURITY["enqueue"] == [{"bearer": []}]  # writes always; measuring optionally
    assert {} in OPERATION_SECURITY["schedules"]


def test_request_bodies_refuse_unknown_fields_and_say_so(doc: dict[str, Any],
                                                       in_process: InProcessService) -> None:
    for name, operation in _operations(doc):
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["additionalProperties"] is False, name
    for nested in ("WorkloadBody", "WorkloadRef"):
        assert doc["components"]["schemas"][nested]["additionalProperties"] is False
    response = in_process.client.post("/model", json={"verbose": True})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid body: verbose: Extra inputs are not permitted",
                               "reason": "invalid_body"}


def test_closed_values_are_enumerations(doc: dict[str, Any]) -> None:
    dialect_fields = [node["properties"]["dialect"] for node in _walk(doc)
                      if isinstance(node.get("properties"), dict) and "dialect" in node["properties"]]
    assert len(dialect_fields) >= 6  # 5 requests, WorkloadBody, WorkloadRef, a job's spec
    assert all(field["enum"] == available_dialects() for field in dialect_fields)
    schemas = doc["components"]["schemas"]
    assert schemas["JobSummary"]["properties"]["state"]["enum"] == list(JOB_STATES)
    assert schemas["JobSummary"]["properties"]["tier"]["enum"] == list(JOB_TIERS)
    assert schemas["Job"]["properties"]["spec"]["properties"]["tier"]["enum"] == list(JOB_TIERS)
    answer = schemas["Answer"]["properties"]
    assert answer["status"]["enum"] == ["tuned", "measured", "predicted", "missing", "unknown"]
    assert answer["job"] == answer["measure_job"] == {"$ref": "#/components/schemas/JobSummary"}


def test_each_lorien_error_is_answered_with_a_reason_of_its_status() -> None:
    from lorien.serving.service import _HTTP_ERRORS

    for _, answer, reason in _HTTP_ERRORS:
        assert reason in ERROR_REASONS[answer.error_code.value], (answer, reason)


@pytest.mark.parametrize(("request_", "status", "reason"), [
    (("POST", "/schedule", {"json": {"target": 5}}), 400, "invalid_body"),
    (("POST", "/schedule", {"content": b"{", "headers": {"content-type": "application/json"}}), 400,
     "invalid_body"),
    (("POST", "/schedule", {"json": {"target": "0", "key": KEY}}), 400, "invalid_input"),
    (("POST", "/enqueue", {"json": {"target": "host", "key": KEY}}), 401, "unauthorized"),
    (("POST", "/job", {"json": {"job_id": "ff"}}), 404, "not_found"),
    (("GET", "/no-such-path", {}), 404, "not_found"),
    (("GET", "/schedule", {}), 405, "method_not_allowed"),
    (("POST", "/schedule", {"content": b"x" * (16 * 1024 * 1024 + 1),
                            "headers": {"content-type": "application/json"}}), 413, "body_too_large"),
    (("POST", "/schedule", {"data": {"target": "host"}}), 415, "unsupported_media_type"),
])
def test_every_error_answer_has_the_one_body(request_: tuple[str, str, dict[str, Any]], status: int,
                                             reason: str, in_process: InProcessService) -> None:
    method, path, kwargs = request_
    response = in_process.client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    jsonschema.validate(body, ERROR_SCHEMA)
    assert body["reason"] == reason and reason in ERROR_REASONS[status]
    assert "\n" not in body["error"] and "validation error for Input" not in body["error"]
    if status == 405:
        assert "POST" in response.headers["allow"]


# -- a client generated from the document ---------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The ``lorien_client`` package openapi-python-client generates from ``/docs.json``."""
    import json

    folder = tmp_path_factory.mktemp("generated")
    (folder / "docs.json").write_text(json.dumps(doc))
    (folder / "config.yml").write_text("package_name_override: lorien_client\npost_hooks: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", "docs.json",
         "--config", "config.yml", "--meta", "none"],
        cwd=folder, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("lorien_client")
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == "lorien_client" or n.startswith("lorien_client.")]:
            del sys.modules[name]


def _clients(generated: Any, in_process: InProcessService) -> tuple[Any, Any]:
    """The generated client without and with the token, talking to the in-process service
    through its test client's transport (the generated client builds its own ``httpx.Client``)."""
    transport = {"transport": in_process.client._transport}
    anonymous = generated.Client(base_url="http://testserver", httpx_args=transport)
    authenticated = generated.AuthenticatedClient(base_url="http://testserver", token=TOKEN,
                                                  httpx_args=transport)
    return anonymous, authenticated


def test_a_generated_client_gets_hits_predictions_reasons_and_enqueues_with_the_token(
        generated: Any, in_process: InProcessService) -> None:
    from importlib import import_module

    api = import_module("lorien_client.api.service_ap_is")
    models = import_module("lorien_client.models")
    anonymous, authenticated = _clients(generated, in_process)
    with open_store_of(in_process) as store:
        target = next(store.records(workload_key=KEY)).target.canonical
    hit = import_module(f"{api.__name__}.schedule").sync(
        client=anonymous, body=models.ScheduleRequest(target=target, key=KEY))
    assert isinstance(hit, models.ScheduleAnswer), hit
    assert hit.status == models.ScheduleAnswerStatus.TUNED and hit.key == KEY
    predicted = import_module(f"{api.__name__}.predict").sync(
        client=anonymous, body=models.PredictRequest(target="host", key=KEY))
    assert isinstance(predicted, models.PredictPredictionAnswer), predicted
    assert predicted.record["source"] == "predicted" and not predicted.measured
    refused = import_module(f"{api.__name__}.schedule").sync_detailed(
        client=anonymous, body=models.ScheduleRequest(target="0", key=KEY))
    assert refused.status_code == 400 and isinstance(refused.parsed, models.Error)
    assert refused.parsed.reason == models.ErrorReason.INVALID_INPUT and "target" in refused.parsed.error
    enqueue = import_module(f"{api.__name__}.enqueue")
    body = models.EnqueueRequest(target="host", key=KEY, priority=5)
    no_token = enqueue.sync_detailed(client=anonymous, body=body)  # type: ignore[arg-type]
    assert no_token.status_code == 401 and no_token.parsed.reason == models.ErrorReason.UNAUTHORIZED
    queued = enqueue.sync(client=authenticated, body=body)
    assert isinstance(queued, models.EnqueueJobAnswer), queued
    assert queued.job.job_id and queued.job.spec.tier == models.JobSpecTier.TUNE
    assert queued.enqueued in ("added", "requeued", "queued", "done")


def open_store_of(in_process: InProcessService) -> ScheduleStore:
    from lorien.config import open_store

    return open_store(in_process.store_uri)
