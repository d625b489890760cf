"""Asking a Lorien service over HTTP, and the compiler hook that does so.

:class:`ServiceClient` speaks the service's JSON (see :mod:`lorien.serving.service`); errors come
back as Lorien's own (400 -> :class:`InvalidInput`, 404 -> :class:`NotFound`, unreachable or 5xx ->
:class:`StoreError`). :func:`fetch_schedules` asks for every kernel of a model in one request and
keeps the answers in an in-memory store for the duration of one build, so the compiler's hook
(:meth:`lorien.dialects.Dialect.compiler_hook`) answers each kernel locally: one round trip per
model, none per kernel.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lorien.errors import InvalidInput, LorienError, NotFound, StoreError
from lorien.records import ScheduleRecord, Target, Workload
from lorien.serving.schemas import MAX_BATCH
from lorien.store.base import ScheduleStore


class ServiceClient:
    """A blocking client of one Lorien service.

    Args:
        url: the service's base URL, e.g. ``http://127.0.0.1:3000``.
        token: the service's write token (needed by :meth:`enqueue` and :meth:`commit` only).
        timeout_s: how long one request may take (a batch of misses is predicted in the call).

    Thread safety: one client may be shared by threads (httpx's client is). Call :meth:`close`.
    """

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 600.0) -> None:
        import httpx

        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"expected the service as http://HOST:PORT, got {url!r}")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, headers=headers)

    def call(self, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` to ``/endpoint`` and return the JSON answer.

        Raises:
            InvalidInput: the service refused the request (4xx other than 404).
            NotFound: 404.
            StoreError: the service is unreachable or failed (5xx).
        """
        import httpx

        try:
            response = self._http.post(f"/{endpoint}", json=body or {})
        except httpx.HTTPError as exc:
            raise StoreError(f"Lorien service at {self.url} is unreachable: {exc}") from None
        if response.status_code < 400:
            return response.json()
        message = _error_message(response)
        if response.status_code == 404:
            raise NotFound(message)
        if response.status_code < 500:
            raise InvalidInput(f"service refused /{endpoint} ({response.status_code}): {message}")
        raise StoreError(f"service failed /{endpoint} ({response.status_code}): {message}")

    def schedules(self, target: Target, workloads: Sequence[Workload], *, predict: bool = True,
                  budget_s: float | None = None, weights: Sequence[int] | None = None,
                  keys_first: bool = True) -> list[dict[str, Any]]:
        """Answers for ``workloads``, in order; asked in batches of at most the service's limit.
        With ``budget_s`` (the client needs the token) the service improves the answers for that
        long first, spread by ``weights`` (how many times the model runs each workload); batches
        share the budget by their size.

        ``keys_first``: name every workload by key and send whole (payloads are most of a
        request: megabytes for a model) only those the service answers ``unknown``; a batch
        whose workloads it all knows is one small request. With a budget, a look-up that
        predicts and queues nothing finds the unknown ones first, so that one delivery covers
        the whole batch. Off: every workload is sent whole, in one request per batch.
        """
        answers: list[dict[str, Any]] = []
        for start in range(0, len(workloads), MAX_BATCH):
            chunk = workloads[start:start + MAX_BATCH]
            options: dict[str, Any] = {"target": target.canonical, "predict": predict}
            if budget_s:
                options["budget_s"] = budget_s * len(chunk) / len(workloads)
                if weights is not None:
                    options["weights"] = list(weights[start:start + MAX_BATCH])
            answers.extend(self._batch(chunk, options, keys_first))
        return answers

    def _batch(self, chunk: Sequence[Workload], options: dict[str, Any], keys_first: bool
               ) -> list[dict[str, Any]]:
        def whole(w: Workload) -> dict[str, Any]:
            return {"workload": w.to_dict(), "dialect": w.dialect}

        def by_key(w: Workload) -> dict[str, Any]:
            return {"key": w.key, "dialect": w.dialect}

        if not keys_first:
            return list(self.call("schedules", {**options, "workloads": [whole(w) for w in chunk]}
                                  )["answers"])
        keys = [by_key(w) for w in chunk]
        if "budget_s" in options:
            looked_up = self.call("schedules", {"target": options["target"], "workloads": keys,
                                                "predict": False, "refill": False,
                                                "unknown": "answer"})["answers"]
            lacking = {i for i, answer in enumerate(looked_up) if answer["status"] == "unknown"}
            refs = [whole(w) if i in lacking else keys[i] for i, w in enumerate(chunk)]
            return list(self.call("schedules", {**options, "workloads": refs})["answers"])
        answers = list(self.call("schedules", {**options, "workloads": keys, "unknown": "answer"})["answers"])
        unknown = [i for i, answer in enumerate(answers) if answer["status"] == "unknown"]
        if unknown:
            sent = self.call("schedules", {**options, "workloads": [whole(chunk[i]) for i in unknown]})
            for i, answer in zip(unknown, sent["answers"], strict=True):
                answers[i] = answer
        return answers

    def schedule(self, target: Target | str, key: str, dialect: str = "tvm") -> dict[str, Any]:
        return self.call("schedule", {"target": _target_text(target), "key": key, "dialect": dialect})

    def enqueue(self, target: Target | str, key: str, *, priority: int = 0, trials: int | None = None,
                dialect: str = "tvm") -> dict[str, Any]:
        body: dict[str, Any] = {"target": _target_text(target), "key": key, "dialect": dialect,
                                "priority": priority}
        if trials is not None:
            body["trials"] = trials
        return self.call("enqueue", body)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("job", {"job_id": job_id})["job"]

    def health(self) -> dict[str, Any]:
        return self.call("health")

    def model(self) -> dict[str, Any]:
        return self.call("model")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass
class FetchedSchedules:
    """A model's schedules as the service answered them, held in a private store for one build.

    ``refused`` holds, for each answered record that was not kept, why (a record for a workload
    not asked about, or a schedule that does not apply to its kernel): those kernels build
    unscheduled."""

    store: ScheduleStore
    answers: list[dict[str, Any]]
    refused: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(a["status"] == status for a in self.answers)


@contextmanager
def fetch_schedules(client: ServiceClient, target: Target, workloads: Sequence[Workload], *,
                    predict: bool = True, budget_s: float | None = None,
                    weights: Sequence[int] | None = None) -> Iterator[FetchedSchedules]:
    """Ask the service for every workload in one batch and keep the answers in an in-memory store
    (for as long as the ``with`` block): pass ``.store`` to :meth:`Dialect.compile` or
    :meth:`Dialect.compiler_hook`, so the build asks no further. ``budget_s`` and ``weights``: see
    :meth:`ServiceClient.schedules`.

    The service's answers come from outside this process: each record must be for a workload
    asked about, and its schedule is applied to the kernel where a crash cannot take this process
    down (:meth:`Dialect.schedule_problem`) before the build replays it.

    Raises:
        InvalidInput: an answer is not a schedule record.
    """
    from lorien.store.memory import MemoryScheduleStore

    answers = client.schedules(target, workloads, predict=predict, budget_s=budget_s, weights=weights)
    asked = {(w.dialect, w.key): w for w in workloads}
    records, refused = [], []
    for answer in answers:
        if answer.get("record"):
            try:
                record = ScheduleRecord.from_dict(answer["record"])
            except LorienError as exc:
                raise InvalidInput(f"the service answered a malformed record: {exc}") from None
            problem = _record_problem(asked.get((record.dialect, str(answer.get("key")))), record)
            if problem is None:
                records.append(record)
            else:
                refused.append(problem)
    with MemoryScheduleStore() as store:
        store.put_workloads(workloads)
        store.commit(records)
        yield FetchedSchedules(store, answers, refused)


def _record_problem(workload: Workload | None, record: ScheduleRecord) -> str | None:
    """Why an answered record must not be used for the workload asked about (None: it may): it
    schedules another workload than that one or an equivalent of it, or its schedule does not
    apply."""
    from lorien.dialects import get_dialect

    if workload is None:
        return f"a record for workload {record.workload_key}, which was not asked about"
    dialect = get_dialect(record.dialect)
    if record.workload_key != workload.key and record.workload_key not in dialect.equivalent_keys(workload):
        return (f"a record for workload {record.workload_key} answering {workload.key}, which is "
                f"neither that workload nor an equivalent of it")
    return dialect.schedule_problem(workload, record.schedule)


def wait_until_ready(url: str, process: subprocess.Popen[bytes] | None = None, *, timeout_s: float = 180.0,
                     interval_s: float = 0.3) -> str | None:
    """Poll ``url``'s ``/readyz`` until it answers 200.

    Args:
        url: the service's base URL.
        process: the process serving it, if started here: its exit ends the wait at once.
        timeout_s: how long to wait.
        interval_s: the pause between polls.

    Returns:
        None once the service is ready, else why it is not (one line: the process exited with
        its code, or the time ran out).
    """
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if process is not None and process.poll() is not None:
            return f"the service exited with code {process.returncode} while starting"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return f"the service at {url} was not ready within {timeout_s:.0f} s"
        time.sleep(interval_s)


def _target_text(target: Target | str) -> str:
    return target.canonical if isinstance(target, Target) else target


def _error_message(response: Any) -> str:
    """The service's error text: the ``error`` of its one error body (``{"error": ...,
    "reason": ...}``, :mod:`lorien.serving.contract`) with the reason, or the start of whatever
    else answered (a proxy's page)."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return f"{data['error']} ({data['reason']})" if data.get("reason") else data["error"]
    return str(data)[:300]
