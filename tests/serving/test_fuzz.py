"""Every operation of the service's OpenAPI document, fuzzed in-process with Schemathesis: valid and
invalid bodies, edge values of every field, other media types and methods. No request may make the
service fail (5xx), and every request that breaks the document's schema must be refused (4xx).

Writes are fuzzed with the token, so that their bodies get past the token check and are read.

Left out, because the service does not conform to its document there (BentoML writes that part):

* ``response_schema_conformance``: error bodies are not what the document says. It documents
  ``{"error": str, "detail": str}``; BentoML answers ``[{"error": ...}]`` (a list) to Lorien's
  errors and ``{"error": ..., "detail": [...]}`` (a list of pydantic errors) to a body that fails
  validation.
* ``status_code_conformance``: only 200, 400, 404 and 500 are documented; the service also answers
  401 (no token), 413 (body too large), 415 (form body), 422 (nothing to predict from) and 503.
* ``positive_data_acceptance``: a body that fits the schema may still name an unknown workload (404)
  or a target no compiler knows (400); the schema cannot say which keys and targets exist.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from lorien.serving.service import LorienService
from tests.serving.conftest import InProcessService

#: The document the service serves at /docs.json (checked below), generated without starting it:
#: the operations must be known when the tests are collected.
DOCUMENT = LorienService.openapi_spec.asdict()
#: BentoML's /metrics reads the metrics files of ``bentoml serve``'s worker processes
#: (``PROMETHEUS_MULTIPROC_DIR``), which a service started in-process has none of: it raises here.
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/metrics")
LEFT_OUT = [response_schema_conformance, status_code_conformance, positive_data_acceptance]


@pytest.fixture(scope="module")
def session(in_process: InProcessService) -> Any:
    """A client on the started service, with the token. Not entered: entering it would start a
    second instance of the service in this process."""
    from schemathesis.python.asgi import get_client

    schema.app = in_process.app
    client = get_client(in_process.app)
    client.headers.update(in_process.auth)
    return client


def test_the_fuzzed_document_is_the_one_served(in_process: InProcessService) -> None:
    response = in_process.client.get("/docs.json")
    assert response.status_code == 200
    assert response.json() == DOCUMENT


def _no_request_makes_the_service_fail(method: str, path: str) -> Any:
    """Schemathesis' test of one operation. Each operation gets its own test function: the tests
    one ``parametrize`` makes share their function's node id, and pytest-xdist would run one of
    them for all."""

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @schema.include(method=method, path=path).parametrize()
    def test(case: Any, session: Any) -> None:
        case.call_and_validate(session=session, excluded_checks=LEFT_OUT)

    return test


OPERATIONS = sorted((method.upper(), path) for path, item in DOCUMENT["paths"].items() if path != "/metrics"
                    for method in item)
for _method, _path in OPERATIONS:
    globals()[f"test_no_request_makes_the_service_fail_{_method}_{_path.strip('/')}".lower()] = \
        _no_request_makes_the_service_fail(_method, _path)


def test_every_operation_has_its_own_fuzz_test() -> None:
    operations = sorted((op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations())
    assert OPERATIONS == operations and ("POST", "/schedules") in operations
