"""Waiting for a service to start: ready, exited while starting, or out of time."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from lorien.serving.client import wait_until_ready
from tests.aws import free_port


class _Readyz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ready_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_ready_service_is_ready(ready_url: str) -> None:
    assert wait_until_ready(ready_url, timeout_s=5) is None


def test_a_service_that_exits_while_starting_says_so_at_once() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    why = wait_until_ready(f"http://127.0.0.1:{free_port()}", process, timeout_s=60)
    assert why == "the service exited with code 3 while starting"


def test_a_service_that_never_answers_times_out() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    why = wait_until_ready(url, timeout_s=1, interval_s=0.1)
    assert why == f"the service at {url} was not ready within 1 s"
