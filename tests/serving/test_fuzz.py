"""Every operation of the service's OpenAPI document, fuzzed in-process with Schemathesis, with every
one of its checks: valid and invalid bodies, edge values of every field, other media types and
methods, missing auth. No request may make the service fail (5xx); every answer's status and body
must be what the document says; a request that breaks the document must be refused, and one that
fits it must not be refused as malformed.

Writes are fuzzed with the token, so that their bodies get past the token check and are read.

One setting differs from Schemathesis' defaults, for positive data (a body that fits the document):
a 400 is expected too, because some values only the compiler can check (a target's text, a kernel
payload that must hash to its key, one of ``key`` or ``workload``), and the document cannot say
which targets and payloads exist. Such a 400 must carry the reason ``invalid_input``: the check
:func:`fitting_bodies_are_not_called_malformed`, added here, fails a fitting body refused as
``invalid_body`` (the document and the service disagreeing about the body).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from lorien.serving.service import openapi_document
from tests.serving.conftest import InProcessService

#: The document the service serves at /docs.json (checked below), built without starting it: the
#: operations must be known when the tests are collected.
DOCUMENT = openapi_document()
#: Schemathesis' expected statuses for positive data (2xx, 3xx, 401, 403, 404, 409, 429, 5xx), and 400.
CONFIG = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {
    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "400"]}}})


class ServiceApp:
    """The in-process service's ASGI app, known only once the session fixture has started it, but
    needed by the schema when the tests are collected: checks that send requests of their own
    (``ignored_auth`` sends each secured request again without the token) send them to the
    schema's app, through a client of their own whose start and stop (the ASGI lifespan) are
    answered here: the service is started once per process (see ``conftest.py``)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]  # startup or shutdown
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        assert self.app is not None, "the service is not started"
        await self.app(scope, receive, send)


SERVICE = ServiceApp()
#: BentoML's /metrics reads the metrics files of ``bentoml serve``'s worker processes
#: (``PROMETHEUS_MULTIPROC_DIR``), which a service started in-process has none of: it raises here.
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG).exclude(path="/metrics")
schema.app = SERVICE


def fitting_bodies_are_not_called_malformed(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request Schemathesis generated to fit the document, refused with 400, must be refused for
    its values (``invalid_input``), never as a body that breaks the document (``invalid_body``)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    reason = response.json().get("reason")
    if reason != "invalid_input":
        raise AssertionError(f"a body that fits the document was refused as {reason!r}: "
                             f"{response.json().get('error')}")
    return None


@pytest.fixture(scope="module")
def session(in_process: InProcessService) -> Any:
    """A client on the started service, with the token. Not entered: entering it would start a
    second instance of the service in this process."""
    from schemathesis.python.asgi import get_client

    SERVICE.app = in_process.app
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
        case.call_and_validate(session=session, additional_checks=[fitting_bodies_are_not_called_malformed])

    return test


OPERATIONS = sorted((method.upper(), path) for path, item in DOCUMENT["paths"].items() if path != "/metrics"
                    for method in item)
for _method, _path in OPERATIONS:
    globals()[f"test_no_request_makes_the_service_fail_{_method}_{_path.strip('/')}".lower()] = \
        _no_request_makes_the_service_fail(_method, _path)


def test_every_operation_has_its_own_fuzz_test() -> None:
    operations = sorted((op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations())
    assert OPERATIONS == operations and ("POST", "/schedules") in operations
