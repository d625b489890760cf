"""The service's API contract, kept true at its edge: the OpenAPI document a client is generated
from, and the one error body every answer of 400 and above carries.

BentoML writes the routes, validates request bodies and drafts an OpenAPI document; where that
draft and BentoML's error answers do not say what the service does, this module corrects them, in
one place, without touching the endpoints:

* **Error bodies.** BentoML answers ``[{"error": ...}]`` to Lorien's errors, ``{"error": ...,
  "detail": [...]}`` to a body that fails validation, hides the message of a 401 and of a 5xx, and
  Starlette answers a wrong method in plain text. :class:`ContractEdge` rewrites every answer of
  400 and above into :data:`ERROR_SCHEMA`: ``{"error": "<one line>", "reason": "<code>"}``, the
  reason one of :data:`ERROR_REASONS` (``invalid_body``: the request breaks the document;
  ``invalid_input``: it fits the document but names something the compiler refuses, such as a
  target it cannot read or a payload that does not hash to its key). The message is Lorien's own:
  the endpoint records it (:func:`record_error`) before BentoML formats its answer.
* **The document.** :func:`api_document` turns BentoML's draft into OpenAPI 3.1 (the draft is
  labelled 3.0 but its schemas are pydantic's JSON Schema 2020-12, which is 3.1's): every status
  each operation answers (:data:`OPERATION_ERRORS`) with the one error body, the bearer-token
  scheme on what needs the token (:data:`OPERATION_SECURITY`), the installed dialects and the job
  states and tiers as enumerations, an ``operationId`` per operation, and Lorien's title and
  version. Request bodies refuse unknown fields, and say so (``additionalProperties: false``), by
  :func:`forbid_unknown_fields`. :class:`ContractEdge` serves the document at ``/docs.json``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any

from lorien.jobs import JOB_STATES, JOB_TIERS

#: The machine-readable reasons of each error status. ``invalid_body``: the request breaks the
#: document (or is not JSON); ``invalid_input``: it fits the document, but its values are refused.
ERROR_REASONS: dict[int, tuple[str, ...]] = {
    400: ("invalid_body", "invalid_input"),
    401: ("unauthorized",),
    404: ("not_found",),
    405: ("method_not_allowed",),
    413: ("body_too_large",),
    415: ("unsupported_media_type",),
    422: ("no_candidates",),
    429: ("busy",),
    500: ("internal_error",),
    503: ("unavailable",),
}
#: What each error status means, as the document describes it.
ERROR_MEANINGS: dict[int, str] = {
    400: "the body breaks this document (reason invalid_body) or names what the compiler refuses: "
         "a target it cannot read, a payload that does not hash to its key (reason invalid_input)",
    401: "no token, or a wrong one (Authorization: Bearer TOKEN)",
    404: "an unknown workload key or job",
    405: "a method the path does not take",
    413: "a body larger than the service reads",
    415: "a body that is not JSON",
    422: "nothing to predict from: the compiler proposed no usable schedule",
    429: "no prediction slot free for this client now: try again shortly",
    500: "the service failed",
    503: "the store or queue cannot be reached now",
}
#: The one body of every answer of 400 and above.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "Why a request failed: one line for people, one reason for programs.",
    "additionalProperties": False,
    "required": ["error", "reason"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, in one line"},
        "reason": {"type": "string", "enum": sorted({r for rs in ERROR_REASONS.values() for r in rs}),
                   "description": "what went wrong, for programs"},
    },
}
#: The error statuses each operation answers (besides 500, which any may).
OPERATION_ERRORS: dict[str, tuple[int, ...]] = {
    "schedule": (400, 404, 413, 415, 422, 429, 503),
    "schedules": (400, 401, 404, 413, 415, 422, 429, 503),
    "predict": (400, 401, 404, 413, 415, 422, 429, 503),
    "enqueue": (400, 401, 404, 413, 415, 503),
    "commit": (400, 401, 404, 413, 415, 503),
    "job": (400, 404, 413, 415, 503),
    "model": (400, 413, 415),
    "health": (400, 413, 415),
}
#: Which operations take the token: always (writes), or only for what measures on the service's
#: machine (``budget_s`` of ``/schedules``, ``measure_top_k`` of ``/predict``).
OPERATION_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "enqueue": [{"bearer": []}],
    "commit": [{"bearer": []}],
    "schedules": [{}, {"bearer": []}],
    "predict": [{}, {"bearer": []}],
}
#: The ASGI scope's key for an error recorded by an endpoint (see :func:`record_error`).
ERROR_SCOPE_KEY = "lorien.error"

_JOB_SUMMARY: dict[str, Any] = {
    "type": "object",
    "title": "JobSummary",
    "description": "The tuning or measuring job an answer queued or found; empty when none.",
    "additionalProperties": False,
    "properties": {
        "job_id": {"type": "string"},
        "state": {"type": "string", "enum": list(JOB_STATES)},
        "priority": {"type": "integer"},
        "trials": {"type": "integer"},
        "attempts": {"type": "integer"},
        "tier": {"type": "string", "enum": list(JOB_TIERS)},
    },
}
_JOB: dict[str, Any] = {
    "type": "object",
    "title": "Job",
    "description": "A job as the queue holds it (lorien.jobs.Job.to_dict).",
    "required": ["job_id", "spec", "state", "attempts", "max_attempts"],
    "properties": {
        "job_id": {"type": "string"},
        "spec": {"type": "object", "required": ["dialect", "workload_key", "target", "build", "tier"],
                 "properties": {"dialect": {"type": "string"}, "workload_key": {"type": "string"},
                                "workload_name": {"type": "string"}, "target": {"type": "object"},
                                "build": {"type": "string"}, "priority": {"type": "integer"},
                                "tier": {"type": "string", "enum": list(JOB_TIERS)},
                                "trials": {"type": "integer"}}},
        "state": {"type": "string", "enum": list(JOB_STATES)},
        "attempts": {"type": "integer"},
        "max_attempts": {"type": "integer"},
        "worker": {"type": ["string", "null"]},
        "lease_expires": {"type": ["number", "null"]},
        "created_at": {"type": "number"},
        "updated_at": {"type": "number"},
        "error": {"type": ["string", "null"]},
        "batch_job_id": {"type": ["string", "null"]},
        "result": {"type": ["object", "null"]},
        "history": {"type": "array", "items": {"type": "string"}},
    },
}


def forbid_unknown_fields(input_specs: Iterator[Any]) -> None:
    """Make each BentoML input model (a pydantic model) refuse fields it does not declare, so a
    misspelt option is a 400, not silently ignored; the document then says
    ``additionalProperties: false``. Nested bodies refuse them already
    (:class:`lorien.serving.schemas.Strict`)."""
    for spec in input_specs:
        spec.model_config["extra"] = "forbid"
        spec.model_rebuild(force=True)


def api_document(draft: Mapping[str, Any], dialects: Sequence[str], version: str) -> dict[str, Any]:
    """The service's OpenAPI 3.1 document from BentoML's ``draft`` (``Service.openapi_spec``), for
    the installed ``dialects`` and Lorien ``version``. See the module's description."""
    doc = copy.deepcopy(dict(draft))
    doc["openapi"] = "3.1.0"
    doc["info"] = {"title": "Lorien", "version": version,
                   "description": "Efficient deep-learning operator schedules on request: stored, "
                                  "predicted by a cost model, measured within a budget, or queued "
                                  "for tuning."}
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["JobSummary"] = _JOB_SUMMARY
    schemas["Job"] = _JOB
    components["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "the service's token (LORIEN_SERVICE_TOKEN), for writes and measuring"}}
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            name = operation.get("x-bentoml-name")  # BentoML's API name; its own endpoints have none
            operation["operationId"] = name or f"{method}_{path.strip('/').replace('/', '_')}"
            statuses = (*OPERATION_ERRORS.get(name, ()), 500) if name else _infra_errors(path)
            responses = {str(status): body for status, body in operation.get("responses", {}).items()
                         if not str(status).startswith(("4", "5"))}
            for status in statuses:
                responses[str(status)] = {
                    "description": ERROR_MEANINGS[status],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            operation["responses"] = responses
            if name:
                _name_bodies(operation, name)
            if name in OPERATION_SECURITY:
                operation["security"] = OPERATION_SECURITY[name]
    _enumerate(doc["paths"], dialects)
    _enumerate(schemas, dialects)
    _drop_unreferenced(doc)
    return doc


def _name_bodies(operation: dict[str, Any], name: str) -> None:
    """Title an operation's inline bodies so a generated client names them well (generators
    prefix the operation: ``ScheduleRequest``, ``ScheduleAnswer``, not BentoML's
    ``schedule__Input`` and ``AnswerIODescriptor``), and mark a request body with required fields
    as required."""
    body = _json_schema(operation.get("requestBody", {}))
    if isinstance(body, dict):
        body["title"] = "Request"
        if body.get("required"):
            operation["requestBody"]["required"] = True
    answer = _json_schema(operation["responses"].get("200", {}))
    if isinstance(answer, dict) and isinstance(answer.get("title"), str):
        answer["title"] = answer["title"].removesuffix("IODescriptor")


def _json_schema(body: dict[str, Any]) -> Any:
    return body.get("content", {}).get("application/json", {}).get("schema")


def _infra_errors(path: str) -> tuple[int, ...]:
    """BentoML's own endpoints: ``/readyz`` answers 503 until the service is ready."""
    return (503, 500) if path == "/readyz" else (500,)


def _enumerate(schema: Any, dialects: Sequence[str]) -> None:
    """Closed values as enumerations: every ``dialect`` field; the job fields as their schemas."""
    if isinstance(schema, list):
        for item in schema:
            _enumerate(item, dialects)
        return
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, field in properties.items():
            if name == "dialect" and isinstance(field, dict) and field.get("type") == "string":
                field["enum"] = list(dialects)
            elif name in ("job", "measure_job") and isinstance(field, dict) and field.get("type") == "object":
                ref = "Job" if "enqueued" in properties else "JobSummary"  # a JobAnswer holds a whole job
                properties[name] = {"$ref": f"#/components/schemas/{ref}"}
    for value in schema.values():
        _enumerate(value, dialects)


def _drop_unreferenced(doc: dict[str, Any]) -> None:
    """Remove the component schemas nothing refers to (BentoML's own error bodies)."""
    schemas = doc["components"]["schemas"]
    outside = {k: v for k, v in doc.items() if k != "components"}
    reached, frontier = set(), _refs(outside) | _refs(doc["components"].get("securitySchemes"))
    while frontier:
        name = frontier.pop()
        if name in schemas and name not in reached:
            reached.add(name)
            frontier |= _refs(schemas[name])
    for name in set(schemas) - reached:
        del schemas[name]


def _refs(node: Any) -> set[str]:
    """Names of the component schemas ``node`` refers to."""
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


def record_error(scope: MutableMapping[str, Any], status: int, reason: str, message: str) -> None:
    """Keep the error an endpoint is about to answer (its own message and reason), for
    :class:`ContractEdge` to write instead of BentoML's text. ``scope`` is the request's ASGI
    scope."""
    scope[ERROR_SCOPE_KEY] = (status, reason, message)


def error_body(status: int, body: bytes, recorded: tuple[int, str, str] | None = None) -> dict[str, str]:
    """The one error body for an answer of ``status`` whose body was ``body``."""
    if recorded is not None and recorded[0] == status:
        return {"error": recorded[2], "reason": recorded[1]}
    reasons = ERROR_REASONS.get(status) or (("internal_error",) if status >= 500 else ("invalid_input",))
    try:
        found: Any = json.loads(body) if body else None
    except ValueError:
        found = None
    if isinstance(found, dict) and set(found) == {"error", "reason"}:
        return {"error": str(found["error"]), "reason": str(found["reason"])}
    if isinstance(found, dict) and isinstance(found.get("detail"), list):  # pydantic's validation errors
        return {"error": "invalid body: " + "; ".join(_validation_lines(found["detail"])),
                "reason": "invalid_body"}
    if isinstance(found, list) and found and isinstance(found[0], dict):
        found = found[0]
    message = found.get("error") if isinstance(found, dict) else None
    if not isinstance(message, str) or not message:
        message = body.decode("utf-8", "replace").strip() if body and found is None else ""
    if status == 401:
        message = "a valid token is required (Authorization: Bearer TOKEN)"
    if status >= 500 and recorded is None:
        message = "the service failed; see its log"
    return {"error": (message or HTTPStatus(status).phrase).splitlines()[0][:2000], "reason": reasons[-1]}


def _validation_lines(errors: list[Any]) -> Iterator[str]:
    for error in errors[:8]:
        if not isinstance(error, dict):
            continue
        where = ".".join(str(part) for part in error.get("loc", ()))
        yield f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))


class ContractEdge:
    """ASGI middleware that keeps the contract: serves :func:`api_document` at ``GET /docs.json``
    and rewrites the body of every answer of 400 and above into :data:`ERROR_SCHEMA` (see the
    module's description). Headers other than the body's length and type pass unchanged (a 405's
    ``Allow``). The document is built on its first request and kept."""

    def __init__(self, app: Any, document: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self._document = document
        self._served: bytes | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") == "/docs.json" and scope.get("method") in ("GET", "HEAD"):
            if self._served is None:
                self._served = json.dumps(self._document()).encode()
            await send_json(send, 200, self._served, head=scope.get("method") == "HEAD")
            return
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def rewriting(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    await send(message)
                else:
                    started.update(message)
                return
            if message["type"] != "http.response.body" or not started:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = started["status"]
            body = json.dumps(error_body(status, b"".join(chunks), scope.get(ERROR_SCOPE_KEY))).encode()
            kept = [(k, v) for k, v in started.get("headers", [])
                    if k.lower() not in (b"content-length", b"content-type")]
            await send_json(send, status, body, headers=kept)

        await self.app(scope, receive, rewriting)


async def send_json(send: Any, status: int, body: bytes, *, head: bool = False,
                    headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer an ASGI request with a JSON ``body`` (already encoded) and ``headers`` besides its
    type and length; with ``head``, the headers only."""
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": b"" if head else body})
