"""``lorien serve``: the schedule service, with local workers that tune what it was asked for."""

from __future__ import annotations

import argparse
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from lorien.cli.common import service_token_file, storage_options
from lorien.config import data_dir, open_store, resolve_logs_uri, resolve_store_uri
from lorien.errors import InvalidInput, StoreError

#: The service must answer /readyz within this many seconds of starting.
READY_TIMEOUT_S = 180.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", parents=[storage_options()],
        help="serve schedules over HTTP (BentoML), predicting misses and tuning them in the background",
        description="Start the BentoML service on the store: stored schedules come back in "
                    "milliseconds, misses are predicted by the cost model in seconds and queued for "
                    "tuning, which --workers local workers do (the default on the embedded store). A "
                    "fresh store is seeded with Lorien's own tuned schedules; the shipped cost model "
                    "is registered when no other is named. Write endpoints (enqueue, commit) need "
                    "the token: --token, LORIEN_SERVICE_TOKEN, or one generated into the data folder.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on (3000)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="local tuning workers (default 1 on SQLite, 0 on DynamoDB: workers "
                             "elsewhere drain the same queue)")
    parser.add_argument("--api-workers", type=int, default=1, metavar="N",
                        help="BentoML API processes answering requests (1; each runs a thread pool)")
    parser.add_argument("--target", default="host",
                        help="the target the local workers tune for (host); jobs of other targets "
                             "wait for workers that can measure them")
    parser.add_argument("--model", default=None, metavar="TAG",
                        help="registered cost model (env LORIEN_MODEL; default: the shipped one)")
    parser.add_argument("--token", default=None,
                        help="the write token (env LORIEN_SERVICE_TOKEN; default: generated once "
                             "into <data>/service-token)")
    parser.add_argument("--refill-trials", type=int, default=32, metavar="N",
                        help="trials of the tuning jobs queued for misses (32)")
    parser.add_argument("--refill-measure", type=int, default=16, metavar="N",
                        help="candidates of the measuring jobs queued for misses with no measured answer "
                             "for the target, run before any tuning job (16; 0: none)")
    parser.add_argument("--no-refill", action="store_true", help="queue no tuning for misses")
    parser.add_argument("--measure-top-k", type=int, default=0, metavar="K",
                        help="measure the cost model's best K candidates of a miss on this machine and "
                             "answer the fastest (slower answers, better schedules; 0: none)")
    parser.add_argument("--max-predictions", type=int, default=2, metavar="N",
                        help="predictions each API process runs at once; a miss that waits 30 s for one "
                             "is answered missing (still queued), /predict with 429 (2)")
    parser.add_argument("--max-predictions-per-client", type=int, default=1, metavar="N",
                        help="of those, how many one client address may hold at once (1)")
    parser.add_argument("--max-budget", type=float, default=300.0, metavar="SECONDS",
                        help="the largest time budget a /schedules request may ask for (300; at most 540)")
    parser.add_argument("--no-seed", action="store_true",
                        help="do not seed an empty store with Lorien's own tuned schedules")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InvalidInput(f"--port must be in 1..65535, got {args.port}")
    if args.api_workers < 1:
        raise InvalidInput(f"--api-workers must be at least 1, got {args.api_workers}")
    if args.measure_top_k < 0:
        raise InvalidInput(f"--measure-top-k cannot be negative, got {args.measure_top_k}")
    if args.max_predictions < 1:
        raise InvalidInput(f"--max-predictions must be at least 1, got {args.max_predictions}")
    if args.max_predictions_per_client < 1:
        raise InvalidInput(f"--max-predictions-per-client must be at least 1, "
                           f"got {args.max_predictions_per_client}")
    from lorien.serving.schemas import MAX_BUDGET_S

    if not (math.isfinite(args.max_budget) and 0 <= args.max_budget <= MAX_BUDGET_S):
        raise InvalidInput(f"--max-budget must be seconds between 0 and {MAX_BUDGET_S:g}, "
                           f"got {args.max_budget}")
    if args.refill_trials < 1:
        raise InvalidInput(f"--refill-trials must be at least 1, got {args.refill_trials}")
    if args.refill_measure < 0:
        raise InvalidInput(f"--refill-measure cannot be negative, got {args.refill_measure}")
    store_uri, logs_uri = resolve_store_uri(args.store), resolve_logs_uri(args.logs)
    workers = args.workers if args.workers is not None else (1 if store_uri.startswith("sqlite") else 0)
    if workers < 0:
        raise InvalidInput(f"--workers cannot be negative, got {workers}")
    os.environ.setdefault("BENTOML_HOME", str(data_dir() / "bentoml"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    from lorien.datasets.seed import seed_store
    from lorien.serving.client import wait_until_ready
    from lorien.training.shipped import ensure_shipped_model
    from lorien.tuner.supervisor import WorkerSupervisor

    with open_store(store_uri, create=True) as store:
        if not args.no_seed and not store.list_workloads():
            count, kept = seed_store(store)
            print(f"seeded {store_uri} with Lorien's tuned schedules: {count} workloads, {kept} records")
    model = ensure_shipped_model(args.model or os.environ.get("LORIEN_MODEL") or "lorien-cost-model")
    token, token_note = _token(args.token)
    env = {**os.environ, "LORIEN_STORE": store_uri, "LORIEN_LOGS": logs_uri, "LORIEN_MODEL": model,
           "LORIEN_SERVICE_TOKEN": token, "LORIEN_REFILL": "0" if args.no_refill else "1",
           "LORIEN_REFILL_TRIALS": str(args.refill_trials), "LORIEN_REFILL_MEASURE": str(args.refill_measure),
           "LORIEN_MEASURE_TOP_K": str(args.measure_top_k),
           "LORIEN_MAX_PREDICTIONS": str(args.max_predictions),
           "LORIEN_MAX_PREDICTIONS_PER_CLIENT": str(args.max_predictions_per_client),
           "LORIEN_MAX_BUDGET_S": str(args.max_budget),
           "BENTOML_CONFIG_OPTIONS": " ".join(filter(None, [os.environ.get("BENTOML_CONFIG_OPTIONS"),
                                                            f"services.lorien.workers={args.api_workers}"]))}
    url = f"http://{args.host}:{args.port}"
    service = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "lorien.serving.service:LorienService",
         "--host", args.host, "--port", str(args.port)], env=env, preexec_fn=_service_preexec)
    workers_command = [sys.executable, "-m", "lorien.cli.main", "worker", "--store", store_uri,
                       "--logs", logs_uri, "--target", args.target, "--cost-model", model, "--quiet"]
    supervisor = WorkerSupervisor(workers_command, workers, env)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        not_ready = wait_until_ready(url, service, timeout_s=READY_TIMEOUT_S)
        if not_ready:
            raise StoreError(not_ready)
        print(f"serving schedules on {url} (OpenAPI at {url}/docs.json) with cost model {model}; "
              f"{workers} local worker(s) tune for {args.target}; {token_note}", flush=True)
        reported = 0
        while not stopping and service.poll() is None:
            supervisor.check()
            if supervisor.failures_in_a_row > reported:
                print(f"a local worker exited with code {supervisor.last_exit_code} "
                      f"({supervisor.failures_in_a_row} in a row); it is replaced after a pause", flush=True)
            reported = supervisor.failures_in_a_row
            time.sleep(0.5)
        if not stopping:
            raise StoreError(f"the service exited with code {service.returncode}; see its log above")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if service.poll() is None:
            service.terminate()
        supervisor.stop()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()


def _token(flag: str | None) -> tuple[str, str]:
    """The write token and where it came from (never printed itself)."""
    if flag:
        return flag, "write token from --token"
    if os.environ.get("LORIEN_SERVICE_TOKEN"):
        return os.environ["LORIEN_SERVICE_TOKEN"], "write token from LORIEN_SERVICE_TOKEN"
    path = service_token_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return Path(path).read_text().strip(), f"write token in {path}"


def _service_preexec() -> None:
    """BentoML's server runs worker processes of its own: SIGTERM (not SIGKILL) when ``lorien
    serve`` dies lets it stop them."""
    from lorien.children import die_with_parent

    die_with_parent(signal.SIGTERM)
