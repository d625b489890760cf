"""The command line, as a user runs it: real processes, real tuning, one store on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MODEL = f"{REPO}/tests/tvm_models.py:small_mlp"


def lorien(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lorien.cli.main", *argv], capture_output=True,
                          text=True, env=env, timeout=600, cwd=REPO)


def test_extract_tune_query_compile_export_import(tmp_path: Path) -> None:
    env = {**os.environ, "LORIEN_STORE": f"sqlite:///{tmp_path}/lorien.db",
           "LORIEN_LOGS": f"file://{tmp_path}/logs"}
    extracted = lorien("extract", "--model", MODEL, "--json", env=env)
    assert extracted.returncode == 0, extracted.stderr
    [kernel] = json.loads(extracted.stdout)
    assert kernel["weight"] == 1 and kernel["name"].startswith("fused_matmul_add_relu(")

    tuned = lorien("tune", "--model", MODEL, "--trials", "4", "--quiet", "--seed", "1", env=env)
    assert tuned.returncode == 0, tuned.stderr
    assert "tuned 1, already tuned 0, failed 0" in tuned.stdout
    again = lorien("tune", "--workload", kernel["key"], "--trials", "4", "--quiet", env=env)
    assert "tuned 0, already tuned 1, failed 0" in again.stdout

    queried = lorien("query", "--workload", kernel["key"], "--top", "10", "--json", env=env)
    assert queried.returncode == 0, queried.stderr
    records = json.loads(queried.stdout)
    assert 1 <= len(records) <= 5 and records[0]["source"] == "tuned"
    assert (tmp_path / "logs" / records[0]["log_ref"]).is_file()
    table = lorien("query", "--workload", kernel["key"], env=env)
    assert kernel["key"] in table.stdout and "GFLOP/s" in table.stdout

    compiled = lorien("compile", "--model", MODEL, "--repeat", "3", "--json", env=env)
    assert compiled.returncode == 0, compiled.stderr
    summary = json.loads(compiled.stdout)
    assert (summary["kernels"], summary["kernels_scheduled"]) == (1, 1)
    assert summary["latency_s"]["lorien"] < summary["latency_s"]["untuned"]
    assert summary["latency_s"]["torch_eager"] > 0

    exported = lorien("db", "export-metaschedule", str(tmp_path / "ms"), env=env)
    assert exported.returncode == 0, exported.stderr
    other = {**env, "LORIEN_STORE": f"sqlite:///{tmp_path}/other.db"}
    imported = lorien("db", "import-metaschedule", str(tmp_path / "ms"), env=other)
    assert imported.returncode == 0, imported.stderr
    assert f"{len(records)} measured records" in imported.stdout
    from_other = json.loads(lorien("query", "--workload", kernel["key"], "--top", "10", "--json",
                                   env=other).stdout)
    assert [r["schedule"] for r in from_other] == [r["schedule"] for r in records]


def test_tune_query_compile_on_dynamodb_and_s3(tmp_path: Path, aws: str) -> None:
    """The production backends are one URI each: the same commands, DynamoDB and S3 over HTTP."""
    from lorien.config import open_logs, open_store
    from tests.aws import unique

    name = unique("lorien")
    env = {**os.environ,
           "LORIEN_STORE": f"dynamodb://{name}?endpoint_url={aws}&region=us-east-1",
           "LORIEN_LOGS": f"s3://{name}/logs?endpoint_url={aws}&region=us-east-1"}
    assert lorien("db", "init", env=env).returncode == 0
    tuned = lorien("tune", "--model", MODEL, "--trials", "4", "--quiet", "--seed", "1", env=env)
    assert tuned.returncode == 0, tuned.stderr
    assert "tuned 1, already tuned 0, failed 0" in tuned.stdout
    [kernel] = json.loads(lorien("extract", "--model", MODEL, "--json", env=env).stdout)
    queried = lorien("query", "--workload", kernel["key"], "--top", "10", "--json", env=env)
    records = json.loads(queried.stdout)
    assert 1 <= len(records) <= 5 and records[0]["source"] == "tuned"
    assert open_logs(env["LORIEN_LOGS"]).exists(records[0]["log_ref"])
    compiled = lorien("compile", "--model", MODEL, "--repeat", "3", "--json", env=env)
    assert compiled.returncode == 0, compiled.stderr
    assert json.loads(compiled.stdout)["kernels_scheduled"] == 1
    with open_store(env["LORIEN_STORE"]) as store:
        assert store.count() == len(records)
