"""The AWS Batch path against moto's Batch API over HTTP (Docker switched off, so moto only
records the jobs), then the exact container command of a submitted job run here against the same
queue, as a Batch container would run it: once killed mid-job, once to the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from lorien.config import open_logs, open_queue, open_store
from lorien.errors import InvalidInput
from lorien.testing.instant import instant_workload
from lorien.tuner.batch import submit_workers
from tests.aws import unique

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def batch(aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A Batch job queue and the repository's job definition, registered on moto's server."""
    import boto3

    request = urllib.request.Request(f"{aws}/moto-api/config", method="POST",
                                     data=json.dumps({"batch": {"use_docker": False}}).encode())
    urllib.request.urlopen(request).read()
    role = boto3.client("iam", endpoint_url=aws).create_role(
        RoleName=unique("lorien-batch"), AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = boto3.client("batch", endpoint_url=aws)
    environment = client.create_compute_environment(computeEnvironmentName=unique("lorien-ce"),
                                                    type="UNMANAGED", state="ENABLED", serviceRole=role)
    queue = unique("lorien-queue")
    client.create_job_queue(jobQueueName=queue, state="ENABLED", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}])
    definition = json.loads((REPO / "deploy/batch/job-definition.json").read_text())
    definition["jobDefinitionName"] = unique("lorien-worker")
    definition["containerProperties"].update(image="lorien-worker:latest", jobRoleArn=role)
    client.register_job_definition(**definition)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BATCH", aws)
    return client, queue, definition["jobDefinitionName"]


@pytest.mark.slow  # a real worker process drains the queue
def test_lorien_tune_submits_batch_workers_whose_command_drains_the_queue(aws: str, batch: Any) -> None:
    client, queue_name, definition = batch
    store_uri = f"dynamodb://{unique('batch')}?endpoint_url={aws}&region=us-east-1"
    logs_uri = f"s3://{unique('batch')}/logs?endpoint_url={aws}&region=us-east-1"
    open_store(store_uri, create=True).close()
    open_queue(store_uri, create=True).close()
    open_logs(logs_uri, create=True).close()
    workload = instant_workload("c" * 16, seconds=4.0)
    with open_store(store_uri) as store:
        store.put_workloads([workload])
    env = {**os.environ, "LORIEN_STORE": store_uri, "LORIEN_LOGS": logs_uri}
    submitted = subprocess.run(
        [sys.executable, "-m", "lorien.cli.main", "tune", "--dialect", "instant", "--target", "cpu",
         "--workload", workload.key, "--trials", "4", "--lease", "2", "--aws-batch", queue_name,
         "--job-definition", definition, "--batch-idle-exit", "3", "--detach"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    assert f"submitted 1 Batch worker(s) to {queue_name}" in submitted.stdout
    line = next(line for line in submitted.stdout.splitlines() if "Batch worker" in line)
    [batch_id] = line.split(": ")[1].split(", ")
    [described] = client.describe_jobs(jobs=[batch_id])["jobs"]
    command = described["container"]["command"]
    assert command[:6] == ["lorien", "worker", "--store", store_uri, "--logs", logs_uri]
    assert command[command.index("--lease") + 1] == "2.0" and "--idle-exit" in command

    local = [sys.executable, "-m", "lorien.cli.main", *command[1:]]
    with open_queue(store_uri) as queue:
        [job] = queue.jobs()
        doomed = subprocess.Popen(local, cwd=REPO, env={**env, "AWS_BATCH_JOB_ID": "container-1"})
        deadline = time.monotonic() + 90
        while (current := queue.get(job.job_id)) is not None and current.state != "running":
            assert time.monotonic() < deadline, "the first container never claimed the job"
            time.sleep(0.2)
        assert current is not None and current.batch_job_id == "container-1"
        doomed.send_signal(signal.SIGKILL)  # the spot instance is gone
        doomed.wait(timeout=10)
        ran = subprocess.run(local, cwd=REPO, env={**env, "AWS_BATCH_JOB_ID": "container-2"},
                             capture_output=True, text=True, timeout=180)
        assert ran.returncode == 0, ran.stderr
        done = queue.get(job.job_id)
        assert done is not None and done.state == "done" and done.attempts == 2
        assert done.batch_job_id == "container-2" and done.worker.startswith("batch:container-2:")  # type: ignore[union-attr]
    with open_store(store_uri) as store:
        assert store.count(workload_key=workload.key) == 4


def test_bad_batch_arguments_are_one_clear_line(batch: Any) -> None:
    with pytest.raises(InvalidInput, match="cannot reach this machine's SQLite"):
        submit_workers("q", "d", 1, "sqlite:///tmp/x.db", "s3://b/l")
    with pytest.raises(InvalidInput, match="malformed Batch job queue"):
        submit_workers("bad queue!", "d", 1, "dynamodb://x", "s3://b/l")
    from lorien.errors import StoreError

    with pytest.raises(StoreError, match="cannot submit a Batch worker to queue no-such-queue"):
        submit_workers("no-such-queue", "d", 1, "dynamodb://x", "s3://b/l")
