"""The command line, as a user runs it: real processes, real tuning, one store on disk.

Tuning and compiling run as processes; the commands around them (extract, query, export, import)
run in this process through the same ``main``, which saves starting Python with TVM and torch
each time. Searches start cold here (``--cold-start``): what is tested is the workflow, and the
default warm start has its own tests."""

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


def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               *argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``lorien ARGV`` through ``main`` in this process, with the store and logs of ``env``."""
    from lorien.cli.main import main

    with monkeypatch.context() as patched:
        for name in ("LORIEN_STORE", "LORIEN_LOGS"):
            patched.setenv(name, env[name])
        patched.chdir(REPO)
        code = main(list(argv))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(argv), code, out, err)


def test_extract_tune_query_compile_export_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    env = {**os.environ, "LORIEN_STORE": f"sqlite:///{tmp_path}/lorien.db",
           "LORIEN_LOGS": f"file://{tmp_path}/logs"}

    def here(*argv: str, env: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return in_process(monkeypatch, capsys, *argv, env=env)

    extracted = here("extract", "--model", MODEL, "--json")
    assert extracted.returncode == 0, extracted.stderr
    [kernel] = json.loads(extracted.stdout)
    assert kernel["weight"] == 1 and kernel["name"].startswith("fused_matmul_add_relu(")

    tuned = lorien("tune", "--model", MODEL, "--trials", "4", "--quiet", "--seed", "1", "--cold-start",
                   env=env)
    assert tuned.returncode == 0, tuned.stderr
    assert "tuned 1, already tuned 0, failed 0" in tuned.stdout
    again = here("tune", "--workload", kernel["key"], "--trials", "4", "--quiet")
    assert "tuned 0, already tuned 1, failed 0" in again.stdout

    queried = here("query", "--workload", kernel["key"], "--top", "10", "--json")
    assert queried.returncode == 0, queried.stderr
    records = json.loads(queried.stdout)
    assert 1 <= len(records) <= 5 and records[0]["source"] == "tuned"
    assert (tmp_path / "logs" / records[0]["log_ref"]).is_file()
    table = here("query", "--workload", kernel["key"])
    assert kernel["key"] in table.stdout and "GFLOP/s" in table.stdout

    compiled = lorien("compile", "--model", MODEL, "--repeat", "3", "--json", env=env)
    assert compiled.returncode == 0, compiled.stderr
    summary = json.loads(compiled.stdout)
    assert (summary["kernels"], summary["kernels_scheduled"]) == (1, 1)
    assert summary["latency_s"]["lorien"] < summary["latency_s"]["untuned"]
    assert summary["latency_s"]["torch_eager"] > 0

    exported = here("db", "export-metaschedule", str(tmp_path / "ms"))
    assert exported.returncode == 0, exported.stderr
    other = {**env, "LORIEN_STORE": f"sqlite:///{tmp_path}/other.db"}
    imported = here("db", "import-metaschedule", str(tmp_path / "ms"), env=other)
    assert imported.returncode == 0, imported.stderr
    assert f"{len(records)} measured records" in imported.stdout
    from_other = json.loads(here("query", "--workload", kernel["key"], "--top", "10", "--json",
                                 env=other).stdout)
    assert [r["schedule"] for r in from_other] == [r["schedule"] for r in records]


def test_tune_query_compile_on_dynamodb_and_s3(tmp_path: Path, aws: str, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The production backends are one URI each: the same commands, DynamoDB and S3 over HTTP."""
    from lorien.config import open_logs, open_store
    from tests.aws import unique

    name = unique("lorien")
    env = {**os.environ,
           "LORIEN_STORE": f"dynamodb://{name}?endpoint_url={aws}&region=us-east-1",
           "LORIEN_LOGS": f"s3://{name}/logs?endpoint_url={aws}&region=us-east-1"}
    assert in_process(monkeypatch, capsys, "db", "init", env=env).returncode == 0
    tuned = lorien("tune", "--model", MODEL, "--trials", "4", "--quiet", "--seed", "1", "--cold-start",
                   env=env)
    assert tuned.returncode == 0, tuned.stderr
    assert "tuned 1, already tuned 0, failed 0" in tuned.stdout
    [kernel] = json.loads(in_process(monkeypatch, capsys, "extract", "--model", MODEL, "--json",
                                     env=env).stdout)
    queried = in_process(monkeypatch, capsys, "query", "--workload", kernel["key"], "--top", "10", "--json",
                         env=env)
    records = json.loads(queried.stdout)
    assert 1 <= len(records) <= 5 and records[0]["source"] == "tuned"
    assert open_logs(env["LORIEN_LOGS"]).exists(records[0]["log_ref"])
    compiled = lorien("compile", "--model", MODEL, "--repeat", "1", "--no-baselines", "--json", env=env)
    assert compiled.returncode == 0, compiled.stderr
    assert json.loads(compiled.stdout)["kernels_scheduled"] == 1
    with open_store(env["LORIEN_STORE"]) as store:
        assert store.count() == len(records)
