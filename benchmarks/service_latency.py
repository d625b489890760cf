"""The schedule service's latency for database hits, served for real over HTTP, beside the lookup it
wraps: p50/p99 ms and requests per second at concurrency 1 and 16, as ratios in one run.

The service is ``lorien serve --workers 0 --no-refill`` on a fresh SQLite file, in a subprocess
with its own ``LORIEN_HOME`` and ``BENTOML_HOME`` in a temporary folder (so it seeds the store with
the data set's tuned workloads and registers the shipped cost model there), on a free port of
127.0.0.1. Every request names a seeded workload by key with the exact target of the data
set's CPU that holds the most workloads, so every answer is a hit: status ``tuned``, match
``exact``, no job. Anything else (or an HTTP error) is counted as an error. Paths measured, each
at every ``--concurrency``:

- ``lookup``: :func:`lorien.lookup.find_schedule` in this process on the same SQLite file, the
  baseline every ratio is taken against;
- ``provider``: :meth:`ScheduleProvider.answer` in this process (workload read, target parsed,
  lookup, the answer model built), i.e. the service without HTTP;
- ``http``: ``POST /schedule`` to the service;
- ``null``: ``POST /schedule`` to a BentoML service that answers a constant hit and does nothing
  else (``benchmarks/null_service.py``, served the same way): the floor the service's own
  overhead is read against, printed as ratios after the table;

and once, at concurrency 1, the batch of all those workloads by key: ``find_schedule`` for each,
``ScheduleProvider.answer_many`` and ``POST /schedules``.

Client: one thread per concurrent caller, each with its own ``httpx.Client`` (keep-alive, opened
before the clock starts), the request bodies encoded in advance. Blocking httpx costs far less
CPU per request than its asyncio client (on 2 cores against this service, about 1.6 vs 4.6 ms,
and 16 threads got 1.7x the requests/s of 16 asyncio tasks), and the threads spend their time
blocked in ``recv`` with the GIL released, so the client waits on the server rather than the
server on the client. The client and the server share the machine's cores, though: the CPU each
spends per request (``cpu here``: this process; ``cpu srv``: the ``lorien serve`` process tree,
via psutil, whose resolution is 10 ms) is printed beside the figures, so a throughput limited by
the cores is visible as such.

The server is BentoML's default: one API worker process, synchronous endpoints run in its thread
pool, an access-log line per request. Latency is the client's (request sent to response body
read); requests/s is requests over the wall time of the level.

    python benchmarks/service_latency.py --concurrency 1 16 --requests 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

from lorien.config import open_queue, open_store
from lorien.dialects import get_dialect
from lorien.lookup import find_schedule
from lorien.records import Target
from lorien.serving.client import wait_until_ready
from lorien.serving.provider import ScheduleProvider, ServiceSettings
from lorien.serving.schemas import Answer, WorkloadRef

READY_TIMEOUT_S = 300.0

#: A caller made for one thread: ``call(i)`` makes request ``i`` and says whether the answer was a
#: hit; ``close()`` releases what the thread opened.
Caller = tuple[Callable[[int], bool], Callable[[], None]]


@dataclass
class Row:
    path: str
    concurrency: int
    requests: int
    p50_ms: float
    p99_ms: float
    per_s: float
    cpu_here_ms: float  # this process's CPU per request
    cpu_server_ms: float  # the server process tree's CPU per request (0 for in-process paths)
    errors: int
    baseline: str  # the row the ratios are taken against
    p50_x: float = 1.0
    p99_x: float = 1.0
    per_s_x: float = 1.0


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_null(folder: Path, answer: dict) -> Iterator[str]:
    """``bentoml serve`` of the do-nothing service, answering ``answer`` (a real hit, so that both
    services send the same bytes), until the block ends: its URL."""
    from lorien.children import die_with_parent

    env = {**os.environ, "BENTOML_HOME": str(folder / "null-bentoml"), "BENTOML_DO_NOT_TRACK": "True",
           "BENTOML_CONFIG_OPTIONS": "services.nullschedules.workers=1",  # as lorien serve runs its own
           "LORIEN_NULL_ANSWER": str(folder / "null-answer.json")}
    (folder / "null-answer.json").write_text(json.dumps(answer))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(folder / "null.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "null_service:NullService", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, cwd=Path(__file__).resolve().parent, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=lambda: die_with_parent(signal.SIGTERM))
    try:
        not_ready = wait_until_ready(url, server, timeout_s=READY_TIMEOUT_S)
        if not_ready:
            raise SystemExit(f"{not_ready}:\n{tail(folder / 'null.log')}")
        yield url
    finally:
        stop(server)


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop a server started above: SIGTERM, then SIGKILL after a minute."""
    if server.poll() is None:
        server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def served(folder: Path, store_uri: str, api_workers: int = 1, *, python: str = sys.executable,
           token: str | None = None) -> Iterator[tuple[str, psutil.Process]]:
    """``lorien serve`` on the store until the block ends (also on Ctrl-C): its URL and process.
    ``python``: the interpreter whose Lorien serves (another checkout's, to compare); ``token``:
    the write token (None: one generated into its home)."""
    from lorien.children import die_with_parent

    home = folder / "home"
    env = {k: v for k, v in os.environ.items()
           if k not in ("LORIEN_STORE", "LORIEN_LOGS", "LORIEN_MODEL", "LORIEN_SERVICE_TOKEN")}
    env.update(LORIEN_HOME=str(home), BENTOML_HOME=str(home / "bentoml"), BENTOML_DO_NOT_TRACK="True")
    if token is not None:
        env["LORIEN_SERVICE_TOKEN"] = token
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        # A session of its own: Ctrl-C reaches this script only, which stops the server below;
        # SIGTERM (lorien serve stops BentoML's processes on it) if this script dies first.
        server = subprocess.Popen(
            [python, "-m", "lorien.cli.main", "serve", "--workers", "0", "--no-refill",
             "--host", "127.0.0.1", "--port", str(port), "--store", store_uri,
             "--api-workers", str(api_workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: die_with_parent(signal.SIGTERM))
    try:
        started = time.monotonic()
        not_ready = wait_until_ready(url, server, timeout_s=READY_TIMEOUT_S)
        if not_ready:
            raise SystemExit(f"{not_ready}:\n{tail(log_path)}")
        print(f"lorien serve ready on {url} after {time.monotonic() - started:.1f} s", flush=True)
        yield url, psutil.Process(server.pid)
    finally:
        stop(server)


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def tree_cpu_s(process: psutil.Process | None) -> float:
    """CPU seconds (user + system) of a process and its living children."""
    if process is None:
        return 0.0
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(path: str, make_caller: Callable[[], Caller], requests: int, concurrency: int, warmup: int,
            baseline: str, server: psutil.Process | None = None) -> Row:
    """``requests`` calls by ``concurrency`` threads, each with a caller of its own; request ``i``
    goes to thread ``i % concurrency``. Each thread makes ``warmup`` untimed calls first."""
    callers = [make_caller() for _ in range(concurrency)]
    timings: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    failures: list[BaseException] = []
    barrier = threading.Barrier(concurrency + 1)

    def work(index: int) -> None:
        call = callers[index][0]
        try:
            for i in range(warmup):
                call(index + i * concurrency)
            barrier.wait()
            local, bad = timings[index], 0
            for i in range(index, requests, concurrency):
                started = time.perf_counter()
                ok = call(i)
                local.append(time.perf_counter() - started)
                bad += not ok
            errors[index] = bad
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
    try:
        for thread in threads:
            thread.start()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            raise failures[0] from None
        cpu_here, cpu_server, started = time.process_time(), tree_cpu_s(server), time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        cpu_here, cpu_server = time.process_time() - cpu_here, tree_cpu_s(server) - cpu_server
    finally:
        for _, close in callers:
            close()
    if failures:
        raise failures[0]
    flat = [t for thread_timings in timings for t in thread_timings]
    return Row(path=path, concurrency=concurrency, requests=len(flat), p50_ms=statistics.median(flat) * 1e3,
               p99_ms=percentile(flat, 99) * 1e3, per_s=len(flat) / seconds,
               cpu_here_ms=cpu_here / len(flat) * 1e3, cpu_server_ms=cpu_server / len(flat) * 1e3,
               errors=sum(errors), baseline=baseline)


def hit(answer: dict) -> bool:
    """A database hit as the benchmark asks for them: tuned, exact target, nothing queued."""
    return answer.get("status") == "tuned" and answer.get("match") == "exact" and not answer.get("job")


def answer_hit(answer: Answer) -> bool:
    return answer.status == "tuned" and answer.match == "exact" and not answer.job


def http_caller(url: str, endpoint: str, bodies: Sequence[bytes], check: Callable[[dict], bool]
                ) -> Callable[[], Caller]:
    def make() -> Caller:
        client = httpx.Client(base_url=url, timeout=60.0, headers={"content-type": "application/json"})

        def call(i: int) -> bool:
            try:
                response = client.post(endpoint, content=bodies[i % len(bodies)])
            except httpx.HTTPError:  # counted as an error, like any answer that is not a hit
                return False
            return response.status_code == 200 and check(response.json())

        return call, client.close
    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--api-workers", type=int, default=1, help="BentoML API processes (lorien serve)")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per path and level")
    parser.add_argument("--warmup", type=int, default=100,
                        help="untimed requests per path before it is measured (the first request "
                             "loads the compiler in the server), and per thread before each level")
    parser.add_argument("--batch-requests", type=int, default=100,
                        help="timed /schedules requests (all workloads in each)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the figures as JSON to FILE ('-': standard output)")
    args = parser.parse_args()
    if min(args.concurrency) < 1 or args.requests < max(args.concurrency) or args.batch_requests < 1:
        parser.error("--concurrency must be positive and --requests at least the highest concurrency")

    # SIGTERM unwinds like Ctrl-C: the server is stopped and the temporary folder removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="lorien-service-latency-") as tmp:
        folder = Path(tmp)
        store_uri = f"sqlite:///{folder / 's.db'}"
        with served(folder, store_uri, args.api_workers) as (url, server), open_store(store_uri) as store, \
                open_queue(store_uri) as queue, ExitStack() as later:
            records = list(store.records())
            # the CPU the data set holds most workloads of: every request is an exact hit on it
            by_target = Counter(r.target for r in {(r.workload_key, r.target): r for r in records
                                                   if r.source == "tuned"}.values())
            target: Target = by_target.most_common(1)[0][0]
            keys = sorted({r.workload_key for r in records if r.source == "tuned" and r.target == target})
            build = get_dialect("tvm").build_id()
            provider = ScheduleProvider(ServiceSettings(store_uri=store_uri, refill=False), store=store,
                                        queue=queue, model=(None, {}))
            refs = [WorkloadRef(key=k) for k in keys]
            bodies = [json.dumps({"target": target.canonical, "key": k}).encode() for k in keys]
            batch_body = [json.dumps({"target": target.canonical,
                                      "workloads": [{"key": k} for k in keys]}).encode()]
            print(f"{len(keys)} workloads, {len(records)} records, target {target.canonical}, build {build}",
                  flush=True)

            def lookup() -> Caller:
                def call(i: int) -> bool:
                    found = find_schedule(store, keys[i % len(keys)], target, build)
                    return found is not None and found.record.source == "tuned" and found.match == "exact"
                return call, lambda: None

            def answer() -> Caller:
                def call(i: int) -> bool:
                    return answer_hit(provider.answer(refs[i % len(refs)], target.canonical, predict=False,
                                                      refill=False))
                return call, lambda: None

            def lookup_all() -> Caller:
                call = lookup()[0]
                return (lambda i: all([call(j) for j in range(len(keys))])), (lambda: None)

            def answer_all() -> Caller:
                def call(i: int) -> bool:
                    batch = provider.answer_many(refs, target.canonical, predict=False, refill=False)
                    return all(answer_hit(a) for a in batch.answers)
                return call, lambda: None

            def check_batch(data: dict) -> bool:
                return len(data["answers"]) == len(keys) and all(hit(a) for a in data["answers"])

            single = http_caller(url, "/schedule", bodies, hit)
            sample = provider.answer(refs[0], target.canonical, predict=False, refill=False).model_dump()
            null = http_caller(later.enter_context(served_null(folder, sample)), "/schedule", bodies, hit)
            batch = http_caller(url, "/schedules", batch_body, check_batch)
            # First calls: imports, caches, the compiler's build id in the server.
            for make, count in ((lookup, args.warmup), (answer, args.warmup), (single, args.warmup),
                                (null, args.warmup),
                                (lookup_all, args.warmup // 20), (answer_all, args.warmup // 20),
                                (batch, args.warmup // 20)):
                call, close = make()
                for i in range(max(count, 1)):
                    call(i)
                close()
            warm = min(args.warmup, 10)  # per thread, before each level's clock starts
            for level in args.concurrency:
                base = f"lookup/{level}"
                rows.append(measure("lookup find_schedule", lookup, args.requests, level, warm, base))
                rows.append(measure("provider answer", answer, args.requests, level, warm, base))
                rows.append(measure("http /schedule", single, args.requests, level, warm, base, server))
                rows.append(measure("null /schedule", null, args.requests, level, warm, base))
                print(f"concurrency {level} done", flush=True)
            label, count = f"lookup x{len(keys)}/1", args.batch_requests
            rows.append(measure(f"lookup x{len(keys)}", lookup_all, count, 1, warm, label))
            rows.append(measure("provider answer_many", answer_all, count, 1, warm, label))
            rows.append(measure(f"http /schedules ({len(keys)})", batch, count, 1, warm, label, server))
            provider.close()

    by_label = {f"{r.path}/{r.concurrency}": r for r in rows}
    by_label.update({f"lookup/{r.concurrency}": r for r in rows if r.path == "lookup find_schedule"})
    for row in rows:
        base = by_label[row.baseline]
        row.p50_x, row.p99_x, row.per_s_x = row.p50_ms / base.p50_ms, row.p99_ms / base.p99_ms, \
            row.per_s / base.per_s
    print(f"{'path':<22} {'conc':>4} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} {'p50 x':>8} "
          f"{'p99 x':>8} {'req/s x':>8} {'cpu here':>8} {'cpu srv':>8} {'errors':>6}")
    for r in rows:
        print(f"{r.path:<22} {r.concurrency:>4} {r.requests:>5} {r.p50_ms:>8.3f} {r.p99_ms:>8.3f} "
              f"{r.per_s:>9.1f} {r.p50_x:>7.1f}x {r.p99_x:>7.1f}x {r.per_s_x:>7.3f}x "
              f"{r.cpu_here_ms:>8.3f} {r.cpu_server_ms:>8.3f} {r.errors:>6}")
    for level in args.concurrency:
        lorien, floor = by_label[f"http /schedule/{level}"], by_label[f"null /schedule/{level}"]
        print(f"service overhead at concurrency {level}, over a BentoML endpoint that does nothing: "
              f"p50 {lorien.p50_ms / floor.p50_ms:.2f}x, p99 {lorien.p99_ms / floor.p99_ms:.2f}x, "
              f"requests/s {lorien.per_s / floor.per_s:.2f}x")
    errors = sum(r.errors for r in rows)
    print(f"ratios: each row over the in-process find_schedule at the same concurrency (batch rows: over "
          f"{len(keys)} lookups in a loop); cpu: ms of CPU per request in this process / in the server's "
          f"process tree; {os.cpu_count()} cores shared by client and server; errors (answers not "
          f"tuned+exact, or HTTP errors): {errors}")
    if args.json is not None:
        document = json.dumps({
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "settings": {"concurrency": args.concurrency, "requests": args.requests, "warmup": args.warmup,
                         "batch_requests": args.batch_requests, "workloads": len(keys)},
            "rows": [asdict(r) for r in rows], "errors": errors,
        }, indent=1)
        if str(args.json) == "-":
            print(document)
        else:
            args.json.write_text(document + "\n")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; the server was stopped")
