"""Workers as AWS Batch jobs: each container runs ``lorien worker`` against the shared queue.

Batch only supplies machines. The containers claim jobs from the queue like any other worker, so
a container that dies (a spot instance reclaimed, an out-of-memory kill) simply stops
heartbeating: its job's lease expires and another worker runs it again. Each claim records the
container's Batch job id (``AWS_BATCH_JOB_ID``) on the Lorien job, so ``lorien jobs`` shows which
container ran what.

The job definition (``deploy/batch/job-definition.json``) names the image built from
``deploy/batch/Dockerfile``; the command is given per submission here, so one definition serves
every store. The Batch endpoint and region come from boto3's default chain
(``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_BATCH`` for a local server).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lorien.aws import aws_error, make_client
from lorien.errors import InvalidInput
from lorien.records import content_hash

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True)
class BatchSubmission:
    """The Batch jobs submitted, by id, and the command each container runs."""

    job_ids: list[str]
    command: list[str]


def worker_command(store_uri: str, logs_uri: str, extra: Sequence[str] = (),
                   idle_exit_s: float = 60.0) -> list[str]:
    """The container command of a Batch worker: drain the queue, then exit after ``idle_exit_s``
    with nothing to claim (so the machine goes back)."""
    return ["lorien", "worker", "--store", store_uri, "--logs", logs_uri, "--quiet",
            "--idle-exit", f"{idle_exit_s:g}", *extra]


def submit_workers(job_queue: str, job_definition: str, count: int, store_uri: str, logs_uri: str,
                   extra: Sequence[str] = (), *, idle_exit_s: float = 60.0,
                   name: str = "lorien-worker") -> BatchSubmission:
    """Submit ``count`` Batch jobs, each running :func:`worker_command`.

    Raises:
        InvalidInput: a malformed queue, definition or job name, or ``count`` below 1.
        StoreError: Batch refused the submission (missing queue or definition, credentials).
    """
    if count < 1:
        raise InvalidInput(f"the number of Batch workers must be at least 1, got {count}")
    for what, value in (("job queue", job_queue), ("job definition", job_definition.split(":")[0]),
                        ("job name", name)):
        if not _NAME.match(value) and not value.startswith("arn:"):
            raise InvalidInput(f"malformed Batch {what} {value!r}")
    if store_uri.startswith("sqlite:") or logs_uri.startswith("file:"):
        raise InvalidInput("Batch containers cannot reach this machine's SQLite file or log folder; "
                           "use dynamodb:// and s3:// URIs with --batch")
    command = worker_command(store_uri, logs_uri, extra, idle_exit_s)
    client = make_client("batch", {})
    tag = content_hash(store_uri, logs_uri, length=8)
    ids = []
    for index in range(count):
        try:
            answer = client.submit_job(jobName=f"{name}-{tag}-{index}", jobQueue=job_queue,
                                       jobDefinition=job_definition,
                                       containerOverrides={"command": command})
        except Exception as exc:
            raise aws_error(exc, f"cannot submit a Batch worker to queue {job_queue}") from exc
        ids.append(str(answer["jobId"]))
    return BatchSubmission(job_ids=ids, command=command)
