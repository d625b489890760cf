"""``lorien db init|copy|prune|stats`` across backends: SQLite, DynamoDB and S3 over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorien.admin import copy
from lorien.config import open_logs, open_queue, open_store
from lorien.records import best_per_group
from lorien.testing.factories import CPU_A, CPU_B, record, workload
from tests.aws import unique
from tests.cli.test_cli_errors import assert_one_line_error, run_cli

KEYS = [f"00000000000000{i:02x}" for i in range(6)]


def dynamodb_uri(endpoint: str) -> str:
    return f"dynamodb://{unique('lorien')}?endpoint_url={endpoint}&region=us-east-1"


def s3_uri(endpoint: str) -> str:
    return f"s3://{unique('lorien')}/logs?endpoint_url={endpoint}&region=us-east-1"


def filled_sqlite(tmp_path: Path) -> tuple[str, list]:
    uri = f"sqlite:///{tmp_path}/source.db"
    recs = [record(key, (i + 1) * 1e-3, schedule=f"s{i}", target=target)
            for key in KEYS for i in range(3) for target in (CPU_A, CPU_B)]
    with open_store(uri) as store:
        store.put_workloads([workload(key) for key in KEYS])
        store.commit(recs)
    return uri, recs


def test_init_twice_then_stats(aws: str, capsys: pytest.CaptureFixture[str]) -> None:
    store, logs = dynamodb_uri(aws), s3_uri(aws)
    for _ in range(2):
        code, out, _ = run_cli(capsys, "db", "init", "--store", store, "--logs", logs)
        assert code == 0 and "ready" in out and "job queue (0 jobs)" in out
    code, out, _ = run_cli(capsys, "db", "stats", "--store", store, "--json")
    assert code == 0 and json.loads(out)["records"] == 0
    with open_queue(store) as queue:  # the jobs table and its index exist (checked on open)
        assert queue.table.endswith("-jobs") and queue.counts()["waiting"] == 0  # type: ignore[attr-defined]


def test_init_sqlite_creates_the_job_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path}/lorien.db"
    code, out, _ = run_cli(capsys, "db", "init", "--store", store, "--logs", f"file://{tmp_path}/logs")
    assert code == 0 and "(0 records), job queue (0 jobs)" in out
    with open_queue(store) as queue:
        assert queue.counts()["waiting"] == 0


def test_copy_sqlite_to_dynamodb_and_back(aws: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    source, recs = filled_sqlite(tmp_path)
    remote = dynamodb_uri(aws)
    code, out, _ = run_cli(capsys, "db", "copy", "--from", source, "--to", remote)
    assert code == 0 and f"copied {len(recs)} records and {len(KEYS)} new workloads" in out
    back = f"sqlite:///{tmp_path}/back.db"
    assert run_cli(capsys, "db", "copy", "--from", remote, "--to", back)[0] == 0
    with open_store(source) as a, open_store(back) as b:
        assert list(a.records()) == list(b.records())
        assert a.list_workloads() == b.list_workloads()
    code, out, _ = run_cli(capsys, "db", "stats", "--store", remote)
    assert code == 0 and f"{len(KEYS)} workloads ({len(KEYS)} with tuned records), {len(recs)} records" in out


def test_an_interrupted_copy_resumes(aws: str, tmp_path: Path) -> None:
    source, recs = filled_sqlite(tmp_path)
    remote = dynamodb_uri(aws)

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy(source, remote, progress=stop_after_two)
    report = copy(source, remote)
    assert report.resumed_after == KEYS[1] and report.skipped == 2
    assert report.records == len(recs) - 2 * 6
    with open_store(remote) as store:
        assert sorted(r.record_id for r in store.records()) == sorted(r.record_id for r in recs)


def test_prune_through_the_cli(aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, recs = filled_sqlite(tmp_path)
    remote = dynamodb_uri(aws)
    copy(source, remote)
    code, out, _ = run_cli(capsys, "db", "prune", "--store", remote, "--keep", "1")
    assert code == 0 and f"deleted {len(recs) - 12} records; 12 left" in out
    with open_store(remote) as store:
        assert sorted(r.record_id for r in store.records()) == sorted(
            r.record_id for r in best_per_group(recs, 1))


def test_copy_logs_to_s3_skips_what_is_there(aws: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    local = open_logs(f"file://{tmp_path}/logs")
    for i in range(3):
        local.put(f"tvm/{KEYS[i]}/x{i}.jsonl.gz", bytes([i]) * 100)
    remote = s3_uri(aws)
    argv = ("db", "copy", "--from", local.uri, "--to", remote)
    assert "copied 3 logs (0 already there)" in run_cli(capsys, *argv)[1]
    assert "copied 0 logs (3 already there)" in run_cli(capsys, *argv)[1]
    assert list(open_logs(remote).list()) == list(local.list())


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["db", "stats", "--store", "dynamodb://missing-tables?endpoint_url={aws}&region=us-east-1"], 4,
     "lorien db init"),
    (["db", "copy", "--from", "sqlite:///{tmp}/a.db", "--to", "file:///{tmp}/logs"], 2,
     "cannot copy between"),
    (["db", "copy", "--from", "ftp://x", "--to", "sqlite:///{tmp}/a.db"], 2, "neither a schedule store"),
    (["db", "prune", "--store", "sqlite:///{tmp}/a.db", "--keep", "0"], 2, "keep must be at least 1"),
    (["db", "stats", "--store", "dynamodb://t?endpoint_url={aws}&shade=blue"], 2, "unknown option 'shade'"),
])
def test_bad_input_is_one_line(aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               argv: list[str], code: int, message: str) -> None:
    argv = [a.format(aws=aws, tmp=tmp_path) for a in argv]
    got, _, err = run_cli(capsys, *argv)
    assert got == code
    assert_one_line_error(err)
    assert message in err


def test_missing_credentials_are_one_line(aws: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _, err = run_cli(capsys, "db", "stats", "--store", dynamodb_uri(aws))
    assert code == 4
    assert_one_line_error(err)
    assert "no AWS credentials" in err
