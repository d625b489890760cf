"""``lorien tune`` with local workers, ``lorien jobs``, retry and cancel, as a user runs them (real
processes; the instant dialect, so it takes seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lorien.config import open_store
from lorien.testing.instant import instant_workload

REPO = Path(__file__).resolve().parents[2]


def lorien(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lorien.cli.main", *argv], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)


def test_tune_with_two_workers_then_jobs_retry_and_cancel(tmp_path: Path) -> None:
    env = {**os.environ, "LORIEN_STORE": f"sqlite:///{tmp_path}/lorien.db", "LORIEN_LOGS": f"file://{tmp_path}/logs"}
    good = [instant_workload(f"{i:016x}", seconds=0.5) for i in range(3)]
    bad = instant_workload("f" * 16, fail=True)
    with open_store(env["LORIEN_STORE"]) as store:
        store.put_workloads([*good, bad])
    keys = [a for w in [*good, bad] for a in ("--workload", w.key)]
    tuned = lorien("tune", "--dialect", "instant", "--target", "cpu", "--trials", "4", "--workers", "2",
                   "--max-attempts", "2", "--quiet", *keys, env=env)
    assert tuned.returncode == 5, tuned.stderr
    assert "queued 4 new and 0 requeued job(s)" in tuned.stdout
    assert "tuned 3, already tuned 0, failed 1" in tuned.stdout
    assert tuned.stderr.strip().splitlines()[-1] == \
        "lorien: error: 1 workload(s) could not be tuned (see 'lorien jobs')"

    listed = lorien("jobs", env=env)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0] == "0 waiting, 0 running, 3 done, 1 failed, 0 cancelled"
    assert "attempt 2/2: tuning failed: every measurement of instant[ffffffffffffffff]" in listed.stdout
    jobs = json.loads(lorien("jobs", "--json", "--state", "done", env=env).stdout)
    assert len(jobs) == 3 and {len(j["history"]) for j in jobs} == {3}
    workers = {j["worker"] for j in jobs}
    assert all(w.count(":") == 2 for w in workers)

    again = lorien("tune", "--dialect", "instant", "--target", "cpu", "--trials", "4", "--quiet",
                   *keys[:6], env=env)
    assert again.returncode == 0 and "tuned 0, already tuned 3, failed 0" in again.stdout

    [failed] = json.loads(lorien("jobs", "--json", "--state", "failed", env=env).stdout)
    assert lorien("jobs", "retry", env=env).stdout.strip() == "requeued 1 job(s)"
    assert lorien("jobs", "cancel", failed["job_id"], env=env).stdout.strip() == "cancelled 1 job(s)"
    assert lorien("jobs", "--state", "cancelled", env=env).stdout.splitlines()[0].endswith("1 cancelled")
    assert lorien("jobs", "retry", "--store", env["LORIEN_STORE"], failed["job_id"],
                  env=env).stdout.strip() == "requeued 1 job(s)"
    assert lorien("jobs", "cancel", "--all", env=env).stdout.strip() == "cancelled 1 job(s)"
