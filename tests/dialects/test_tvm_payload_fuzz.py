"""Random mutants of a real kernel payload: whatever passes the check must load, print, hash and
pass ``check_workload`` or raise, never crash. Run in a child process, so a crash fails this test
(with the mutant's number) instead of ending the test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import dataclasses, sys
import tvm
from lorien.dialects import get_dialect
from lorien.dialects.tvm.payload import check_object_graph
from lorien.dialects.tvm.workloads import workload_key
from lorien.errors import InvalidInput
from tests.payload_corpus import random_mutants, shipped_workload_and_schedule

workload, _ = shipped_workload_and_schedule()
dialect = get_dialect("tvm")
passed = 0
for number, text in enumerate(random_mutants(workload, int(sys.argv[1]), int(sys.argv[2]))):
    try:
        check_object_graph(text)
    except InvalidInput:
        continue
    passed += 1
    print(number, flush=True)
    try:
        mod = tvm.ir.load_json(text)
        mod.script()
        dialect.check_workload(dataclasses.replace(workload, key=workload_key(mod), payload=text))
    except Exception:
        pass
print("passed", passed, flush=True)
"""


def test_no_mutant_that_passes_the_check_crashes_tvm() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, "1500", "7"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    lines = done.stdout.split()
    assert done.returncode == 0, f"mutant {lines[-1] if lines else '?'} crashed TVM: {done.returncode}"
    assert lines[-2] == "passed" and int(lines[-1]) > 150  # enough got past the check to mean something
