"""The BentoML service: Lorien's schedules over HTTP.

A thin shell over :class:`lorien.serving.provider.ScheduleProvider`: each endpoint validates its
JSON body (pydantic, bounded sizes), calls the provider, and maps Lorien's errors to HTTP (400 bad
input, 401 no or wrong token on a write or a measuring ``/predict``, 404 unknown workload or job,
413 body too large, 415 a form body, 422 nothing to predict from, 429 no prediction slot, 503 store
unreachable), each with one error body, ``{"error": ..., "reason": ...}``, and the OpenAPI document
at ``/docs.json`` saying exactly that (:mod:`lorien.serving.contract`, the edge that keeps
BentoML's defaults in line). Bodies are JSON only and refuse unknown fields: BentoML refuses
pickled bodies on the main server, form bodies are refused before BentoML parses them, and
nothing here unpickles what arrives.

    bentoml serve lorien.serving.service:LorienService      # or: lorien serve

Configuration comes from the environment (see :class:`~lorien.serving.provider.ServiceSettings`).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any, Literal, TypeVar

import bentoml
from pydantic import Field

from lorien.errors import InvalidInput, LorienError, NotFound, StoreError, TuningError
from lorien.serving.contract import ContractEdge, api_document, forbid_unknown_fields, record_error
from lorien.serving.limits import MAX_BODY_BYTES, BodySizeLimit, JsonBodiesOnly
from lorien.serving.provider import Busy, ScheduleProvider, ServiceSettings, Unauthorized
from lorien.serving.schemas import (
    KEY_PATTERN,
    MAX_BATCH,
    MAX_BUDGET_S,
    Answer,
    BatchAnswer,
    CommitAnswer,
    HealthAnswer,
    JobAnswer,
    ModelAnswer,
    PredictionAnswer,
    WorkloadBody,
    WorkloadRef,
)
from lorien.training.shipped import DEFAULT_MODEL

T = TypeVar("T")
TargetText = Annotated[str, Field(min_length=1, max_length=4000, description=(
    'the target: "host" (the service\'s own CPU), a kind such as "llvm", or the dialect\'s JSON '
    "target dict as text"))]
Key = Annotated[str | None, Field(pattern=KEY_PATTERN, description="a stored workload's key")]
Dialect = Annotated[str, Field(min_length=1, max_length=64)]


class _Unauthorized(bentoml.exceptions.BentoMLException):
    error_code = HTTPStatus.UNAUTHORIZED


class _TooManyRequests(bentoml.exceptions.BentoMLException):
    error_code = HTTPStatus.TOO_MANY_REQUESTS


#: Lorien's errors as HTTP: the BentoML exception that answers each, and the error body's reason
#: (:data:`lorien.serving.contract.ERROR_REASONS`).
_HTTP_ERRORS: tuple[tuple[type[Exception], type[bentoml.exceptions.BentoMLException], str], ...] = (
    (Unauthorized, _Unauthorized, "unauthorized"),
    (Busy, _TooManyRequests, "busy"),
    (NotFound, bentoml.exceptions.NotFound, "not_found"),
    (InvalidInput, bentoml.exceptions.InvalidArgument, "invalid_input"),
    (TuningError, bentoml.exceptions.UnprocessableEntity, "no_candidates"),
    (StoreError, bentoml.exceptions.ServiceUnavailable, "unavailable"),
)


def _http_errors(ctx: bentoml.Context, call: Callable[[], T]) -> T:
    """Run a provider call, turning Lorien's errors into BentoML's HTTP errors, with the message
    and reason kept for the error body (:func:`lorien.serving.contract.record_error`)."""
    try:
        return call()
    except LorienError as exc:
        for error, answer, reason in _HTTP_ERRORS:
            if isinstance(exc, error):
                message = str(exc).splitlines()[0] if str(exc) else reason
                record_error(ctx.request.scope, answer.error_code.value, reason, message)
                raise answer(str(exc)) from None
        raise


def _bearer(ctx: bentoml.Context) -> str | None:
    header = ctx.request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _client(ctx: bentoml.Context) -> str:
    """Who is asking, for per-client limits: the peer's address (headers are not trusted)."""
    peer = ctx.request.client
    return peer.host if peer is not None else "unknown"


def _ref(key: str | None, workload: WorkloadBody | None, dialect: str) -> WorkloadRef:
    return WorkloadRef(key=key, workload=workload, dialect=dialect)


class ScheduleService:
    """Schedules for the workloads of any model: stored, predicted, or queued for tuning (the
    class behind :data:`LorienService`)."""

    #: The shipped cost model; a built Bento carries it. ``LORIEN_MODEL`` selects another one.
    cost_model = bentoml.models.BentoModel(DEFAULT_MODEL)

    def __init__(self) -> None:
        self.provider = ScheduleProvider(ServiceSettings.from_env())
        self.answers = bentoml.metrics.Counter(
            name="lorien_answers", documentation="schedule answers by status", labelnames=["status"])

    def __is_ready__(self) -> bool:
        return self.provider.ready() is None

    def _count(self, *answers: Answer) -> None:
        for answer in answers:
            self.answers.labels(status=answer.status).inc()

    @bentoml.api
    def schedule(self, ctx: bentoml.Context, target: TargetText, key: Key = None,
                 workload: WorkloadBody | None = None, dialect: Dialect = "tvm",
                 predict: bool = True) -> Answer:
        """The schedule of one workload for a target: stored (tuned first, then measured, then
        predicted), else predicted now (unless ``predict`` is false); tuning is queued for
        anything not tuned for this target."""
        answer = _http_errors(ctx, lambda: self.provider.answer(_ref(key, workload, dialect), target,
                                                           predict=predict, client=_client(ctx)))
        self._count(answer)
        return answer

    @bentoml.api
    def schedules(self, ctx: bentoml.Context, target: TargetText,
                  workloads: Annotated[list[WorkloadRef], Field(min_length=1, max_length=MAX_BATCH)],
                  predict: bool = True,
                  budget_s: Annotated[float | None, Field(ge=0, le=MAX_BUDGET_S)] = None,
                  weights: Annotated[list[Annotated[int, Field(ge=1, le=1_000_000)]] | None,
                                     Field(max_length=MAX_BATCH)] = None,
                  refill: bool = True,
                  unknown: Literal["refuse", "answer"] = "refuse") -> BatchAnswer:
        """The schedules of many workloads (a whole model) in one call, in the order given. With
        ``budget_s`` above 0 (requires the token: it measures on the service's machine, which
        must be the target) the answers are improved for that long first: measured where the
        model's time goes (``weights``: how many times the model runs each workload).
        ``refill: false`` queues no tuning. A key the service does not know is a 404, or, with
        ``unknown: "answer"``, an answer of status ``unknown`` (send that workload whole): name
        every workload by key first, and send payloads only for those."""
        answers = _http_errors(ctx, lambda: self.provider.answer_many(
            workloads, target, predict=predict, refill=refill, client=_client(ctx), budget_s=budget_s,
            weights=weights, token=_bearer(ctx), unknown=unknown))
        self._count(*answers.answers)
        return answers

    @bentoml.api
    def predict(self, ctx: bentoml.Context, target: TargetText, key: Key = None,
                workload: WorkloadBody | None = None, dialect: Dialect = "tvm",
                measure_top_k: Annotated[int, Field(ge=0, le=16)] = 0) -> PredictionAnswer:
        """The cost model's choice for a workload, ignoring and not changing the store; with
        ``measure_top_k`` (requires the token: it builds code here), the fastest of the best few
        (spread over unlike schedules) measured on the service's machine."""
        return _http_errors(ctx, lambda: self.provider.predict_only(
            _ref(key, workload, dialect), target, measure_top_k, client=_client(ctx), token=_bearer(ctx)))

    @bentoml.api
    def enqueue(self, ctx: bentoml.Context, target: TargetText, key: Key = None,
                workload: WorkloadBody | None = None, dialect: Dialect = "tvm",
                priority: Annotated[int, Field(ge=-1000, le=1000)] = 0,
                trials: Annotated[int | None, Field(ge=1, le=100_000)] = None) -> JobAnswer:
        """Queue tuning of a workload (requires the token)."""
        def call() -> JobAnswer:
            self.provider.check_token(_bearer(ctx))
            return self.provider.enqueue(_ref(key, workload, dialect), target, priority=priority,
                                         trials=trials)
        return _http_errors(ctx, call)

    @bentoml.api
    def commit(self, ctx: bentoml.Context,
               records: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=4096)],
               workloads: Annotated[list[WorkloadBody], Field(max_length=MAX_BATCH)] = []) -> CommitAnswer:  # noqa: B006
        """Store records measured elsewhere, with their workloads when new (requires the token)."""
        def call() -> CommitAnswer:
            self.provider.check_token(_bearer(ctx))
            return self.provider.commit(workloads, records)
        return _http_errors(ctx, call)

    @bentoml.api
    def job(self, ctx: bentoml.Context,
            job_id: Annotated[str, Field(pattern=r"^[0-9a-f]{1,64}$")]) -> JobAnswer:
        """A tuning job's state, attempts, result and history."""
        return _http_errors(ctx, lambda: self.provider.job(job_id))

    @bentoml.api
    def model(self) -> ModelAnswer:
        """The cost model in use and what it was trained on."""
        return self.provider.model_info()

    @bentoml.api
    def health(self) -> HealthAnswer:
        """Whether the store and queue answer, with the queue's job counts (sampled)."""
        return self.provider.health()


#: The BentoML service (``bentoml serve lorien.serving.service:LorienService``). Decorated by a
#: call, not with ``@``: a type checker then sees the service BentoML returns, not the class.
LorienService = bentoml.service(name="lorien", traffic={"timeout": 600})(ScheduleService)
forbid_unknown_fields(api.input_spec for api in LorienService.apis.values())


def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI document, as ``/docs.json`` serves it
    (:func:`lorien.serving.contract.api_document`)."""
    from importlib.metadata import version

    from lorien.dialects import available_dialects

    return api_document(LorienService.openapi_spec.asdict(), available_dialects(), version("lorien"))


# The first added is the outermost: the contract's edge sees every answer, the limits' too.
LorienService.add_asgi_middleware(ContractEdge, document=openapi_document)
LorienService.add_asgi_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
LorienService.add_asgi_middleware(JsonBodiesOnly)
