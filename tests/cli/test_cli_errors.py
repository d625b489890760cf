"""Bad input on the command line: one clear line on stderr, a non-zero exit, nothing damaged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lorien.cli.main import main
from lorien.config import open_store
from lorien.testing.factories import record, workload


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("lorien: error: ") and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["extract", "--model", "no_such_net"], 2, "unknown model 'no_such_net'"),
        (["extract", "--model", "missing.py:f"], 2, "does not exist"),
        (["extract", "--model", "json:nothing_here"], 2, "has no function"),
        (["extract", "--model", "resnet18", "--target", "llvm -mcpu=x"], 2, "cannot read target"),
        (["extract", "--model", "resnet18", "--target", '{"kind": "nope"}'], 2, "invalid target"),
        (["extract", "--model", "resnet18", "--dialect", "halide"], 2, "unknown dialect"),
        (["extract", "--model", "resnet18", "--batch", "0"], 2, "batch must be at least 1"),
        (["extract"], 2, "--model is required"),
        (["query", "--workload", "0123456789abcdef"], 3, "no workload"),
        (["query", "--workload", "0123456789abcdef", "--top", "0"], 2, "--top must be"),
        (["tune", "--trials", "4"], 2, "either --model NAME or --workload KEY"),
        (["tune", "--workload", "0123456789abcdef", "--trials", "4"], 3, "no workload"),
        (["tune", "--workload", "0123456789abcdef", "--trials", "0"], 2, "trials must be"),
        (["compile"], 2, "--model is required"),
        (["query", "--workload", "k", "--store", "mysql://db"], 2, "unsupported store URI"),
        (["db", "import-metaschedule", "/no/such/folder"], 2, "is not a folder"),
        (["compile", "--model", "resnet18", "--output", "model.txt"], 2, "--output must name a .so file"),
        (["compile", "--model", "resnet18", "--check", "--rtol", "-1"], 2, "--rtol must be in [0, 1)"),
        (["tune", "--workload", "k", "--workers", "-1"], 2, "--workers cannot be negative"),
        (["tune", "--workload", "k", "--aws-batch", "q"], 2, "--aws-batch and --job-definition go together"),
        (["tune", "--workload", "k", "--rpc", "127.0.0.1:port:key"], 2, "tracker port must be a number"),
        (["tune", "--workload", "k", "--rpc", "nokey"], 2, "HOST:PORT:KEY"),
        (["tune", "--workload", "k", "--lease", "0"], 2, "--lease must be positive"),
        (["worker", "--max-jobs", "0"], 2, "--max-jobs must be at least 1"),
        (["worker", "--search-model", "/no/such/model.json"], 2, "--search-model: no file at"),
        (["tune", "--workload", "k", "--search-model", "pyproject.toml"], 2,
         "pyproject.toml is not a search model"),
        (["tune", "--workload", "k", "--search-model", "pyproject.toml", "--cold-start"], 2,
         "--search-model and --cold-start exclude each other"),
        (["worker", "--idle-exit", "-1"], 2, "--idle-exit cannot be negative"),
        (["jobs", "cancel"], 2, "name the jobs to cancel, or give --all"),
        (["jobs", "retry", "no-such-job"], 3, "no job 'no-such-job'"),
        (["jobs", "--store", "mysql://db"], 2, "unsupported store URI"),
        (["serve", "--port", "0"], 2, "--port must be in 1..65535"),
        (["serve", "--api-workers", "0"], 2, "--api-workers must be at least 1"),
        (["serve", "--refill-trials", "0"], 2, "--refill-trials must be at least 1"),
        (["serve", "--measure-top-k", "-1"], 2, "--measure-top-k cannot be negative"),
        (["serve", "--refill-measure", "-1"], 2, "--refill-measure cannot be negative"),
        (["worker", "--cost-model", "nobody"], 3, "no registered cost model"),
        (["serve", "--max-predictions", "0"], 2, "--max-predictions must be at least 1"),
        (["serve", "--model", "nobody:v1", "--store", "mysql://db"], 2, "unsupported store URI"),
        (["predict"], 2, "either --model NAME or --workload KEY"),
        (["predict", "--workload", "0123456789abcdef"], 3, "no workload"),
        (["predict", "--workload", "k", "--cost-model", "nobody"], 3, "no registered cost model"),
        (["compile", "--model", "resnet18", "--service", "localhost:1"], 2, "http://HOST:PORT"),
        # a dialect is asked for the role a command needs, before any work
        (["extract", "--model", "resnet18", "--dialect", "instant"], 2, "instant dialect cannot read models"),
        (["compile", "--model", "resnet18", "--dialect", "instant"], 2, "cannot build models"),
        (["predict", "--workload", "k", "--dialect", "instant"], 2, "cannot propose schedules"),
        (["db", "import-metaschedule", ".", "--dialect", "instant"], 2,
         "the instant dialect cannot read or write its compiler's tuning database"),
    ],
)
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
                               message: str) -> None:
    got, _, err = run_cli(capsys, *argv)
    assert got == code
    assert_one_line_error(err)
    assert message in err


def test_query_of_a_known_workload_without_records_suggests_loose(
        capsys: pytest.CaptureFixture[str]) -> None:
    from lorien.config import resolve_store_uri

    with open_store(resolve_store_uri()) as store:
        store.put_workloads([workload("00000000000000aa", dialect="tvm")])
    code, _, err = run_cli(capsys, "query", "--workload", "00000000000000aa")
    assert code == 3 and "try --loose" in err


def test_corrupt_metaschedule_import_leaves_the_store_untouched(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/lorien.db"
    with open_store(uri) as store:
        store.put_workloads([workload()])
        store.commit([record(seconds=t) for t in (1e-3, 2e-3)])
    before = (tmp_path / "lorien.db").stat().st_size
    folder = tmp_path / "ms"
    folder.mkdir()
    (folder / "database_workload.json").write_text('["123", "bm90IGEgbW9kdWxl"]\n')
    (folder / "database_tuning_record.json").write_text("[0, [[], [1.0]]\n")
    code, _, err = run_cli(capsys, "db", "import-metaschedule", str(folder), "--store", uri)
    assert code == 2 and "unreadable workload" in err
    assert_one_line_error(err)
    with open_store(uri) as store:
        assert store.count() == 2 and len(store.list_workloads()) == 1
    assert (tmp_path / "lorien.db").stat().st_size == before


def test_a_store_file_that_is_not_a_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bogus = tmp_path / "x.db"
    bogus.write_text("hello" * 1000)
    code, _, err = run_cli(capsys, "query", "--workload", "k", "--store", f"sqlite:///{bogus}")
    assert code == 4 and "file is not a database" in err
    assert bogus.read_text() == "hello" * 1000


def test_a_real_process_prints_no_traceback() -> None:
    result = subprocess.run([sys.executable, "-m", "lorien.cli.main", "extract", "--model", "nope"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("lorien: error: unknown model 'nope'; the zoo has ")
    assert line.endswith("or name a function as module:function or file.py:function")


@pytest.mark.parametrize("command", ["extract", "tune", "query", "compile", "db"])
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: lorien" in capsys.readouterr().out



def test_hostile_metaschedule_databases_import_nothing(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    """A real MetaSchedule database with one line replaced by each crash class of kernel payloads
    and of traces: one clear line, exit code 2, nothing stored, and this process still alive (a
    crash in TVM's readers would take the test run down with it)."""
    import base64
    import json

    from lorien.dialects import get_dialect
    from lorien.records import Latency, ScheduleRecord
    from tests.payload_corpus import hostile_payloads, hostile_schedules, shipped_workload_and_schedule

    dialect = get_dialect("tvm")
    shipped, schedule = shipped_workload_and_schedule()
    good = ScheduleRecord(dialect="tvm", workload_key=shipped.key, target=dialect.parse_target("host"),
                          build=dialect.build_id(), schedule=schedule, latency=Latency((1e-3,)))
    dialect.export_native_database(tmp_path / "good", [shipped], [good])
    workload_line = json.loads((tmp_path / "good" / "database_workload.json").read_text())
    record_line = json.loads((tmp_path / "good" / "database_tuning_record.json").read_text())
    uri = f"sqlite:///{tmp_path}/lorien.db"
    open_store(uri).close()

    def folder(name: str, workloads: object, records: object) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "database_workload.json").write_text(json.dumps(workloads) + "\n")
        (path / "database_tuning_record.json").write_text(json.dumps(records) + "\n")
        return path

    cases = []
    for name, payload in hostile_payloads(shipped).items():
        graph = payload.encode()
        encoded = base64.b64encode(len(graph).to_bytes(8, "little") + graph).decode()
        cases.append((f"payload-{name}", folder(f"p-{name}", [workload_line[0], encoded], record_line)))
    for name, hostile in hostile_schedules(schedule).items():
        body = [json.loads(hostile), *record_line[1][1:]]
        cases.append((f"trace-{name}", folder(f"t-{name}", workload_line, [0, body])))
    for name, path in cases:
        code, _, err = run_cli(capsys, "db", "import-metaschedule", str(path), "--store", uri)
        assert code == 2 and "unreadable" in err, (name, err)
        assert_one_line_error(err)
    with open_store(uri) as store:
        assert store.count() == 0 and store.list_workloads() == []
    code, out, _ = run_cli(capsys, "db", "import-metaschedule", str(tmp_path / "good"), "--store", uri)
    assert code == 0 and "imported 1 workloads" in out
