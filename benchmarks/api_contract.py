"""Does the service do what its OpenAPI document says? Schemathesis' command line against ``lorien
serve`` on 127.0.0.1, as a client author would run it with the document at ``/docs.json``: once
with its server-error check only, once with every check, the token supplied. Prints, per run, the
operations tested, the test cases, the checks run and the failures (unique), and which operations
failed.

``--python`` serves another checkout's Lorien (its virtual environment's interpreter), to compare
the code before a change with the code after it in one run; the Schemathesis here fuzzes both.

    python benchmarks/api_contract.py                                     # this checkout
    python benchmarks/api_contract.py --python /path/to/before/.venv/bin/python --label before

The settings are the suite's (``tests/serving/test_fuzz.py``): 25 examples per operation, a fixed
seed, and a 400 expected for a body that fits the document (values only the compiler can check: a
target's text, a payload that must hash to its key). Unlike the suite's in-process service,
``lorien serve`` answers ``/metrics``, so every operation is fuzzed here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from service_latency import served

TOKEN = "api-contract-token"
CONFIG = """\
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "400"]
"""


def fuzz(url: str, checks: str, folder: Path, examples: int, seed: int) -> dict[str, Any]:
    """One Schemathesis run with ``checks`` (``all`` or a list); its counts from the NDJSON events."""
    events = folder / f"events-{checks.replace(',', '-')}.ndjson"
    (folder / "schemathesis.toml").write_text(CONFIG)
    command = [str(Path(sys.executable).parent / "schemathesis"),
               "--config-file", str(folder / "schemathesis.toml"), "run", f"{url}/docs.json",
               "--checks", checks, "-H", f"Authorization: Bearer {TOKEN}",
               "--max-examples", str(examples), "--seed", str(seed),
               "--workers", "1", "--report", "ndjson", "--report-ndjson-path", str(events)]
    # in the run's folder: Schemathesis keeps its example database where it runs
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=folder)
    counts = count_events(events)
    counts["exit_code"] = result.returncode
    (folder / f"stdout-{checks}.txt").write_text(result.stdout + result.stderr)
    return counts


def count_events(path: Path) -> dict[str, Any]:
    """Operations, test cases, checks run and failures in a run's NDJSON event log."""
    operations: set[str] = set()
    failing: Counter[str] = Counter()
    cases = checks = 0
    failures: set[tuple[str, str, str]] = set()
    for line in path.read_text().splitlines():
        event = json.loads(line)
        (kind, body), = event.items() if len(event) == 1 else (("", {}),)
        if kind != "ScenarioFinished":
            continue
        recorder = body.get("recorder", {})
        label = recorder.get("label", "")
        if label.split(" ")[0] in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            operations.add(label)  # not the stateful phase's scenarios of several operations
        cases += len(recorder.get("cases", {}))
        for per_case in recorder.get("checks", {}).values():
            for check in per_case:
                checks += 1
                if check.get("status") == "failure":
                    failure = check.get("failure_info", {}).get("failure", {})
                    failures.add((label, check.get("name", ""), str(failure.get("title", "")),
                                  str(failure.get("message", ""))[:300]))
                    failing[label] += 1
    return {"operations": len(operations), "cases": cases, "checks": checks, "failures": len(failures),
            "failing_operations": sorted(failing), "failed": sorted(failures)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose Lorien serves")
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with served(folder, f"sqlite:///{folder}/store.db", python=args.python, token=TOKEN) as (url, _):
            rows = [(checks, fuzz(url, checks, folder, args.max_examples, args.seed))
                    for checks in ("not_a_server_error", "all")]
    print(f"\nSchemathesis against lorien serve ({args.label}), {args.max_examples} examples per operation, "
          f"seed {args.seed}:")
    print(f"{'checks':<20} {'operations':>10} {'cases':>7} {'checks run':>10} {'failures':>8}  failing")
    for checks, row in rows:
        print(f"{checks:<20} {row['operations']:>10} {row['cases']:>7} {row['checks']:>10} "
              f"{row['failures']:>8}  {len(row['failing_operations'])}: "
              f"{', '.join(row['failing_operations']) or '-'}")
    for checks, row in rows:
        for label, name, title, message in row["failed"]:
            print(f"  [{checks}] {label}: {name}: {title}: {' '.join(message.split())}")


if __name__ == "__main__":
    main()
