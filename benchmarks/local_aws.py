"""moto's server on 127.0.0.1 for benchmarks that compare SQLite with DynamoDB/S3 over HTTP."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def local_aws(own_process: bool = False) -> Iterator[str]:
    """moto's server on a free port of 127.0.0.1, with test credentials in the environment.

    Args:
        own_process: run moto in a process of its own, so that a benchmark's threads do not
            compete with it for this interpreter's lock (its figures then scale with workers as
            a remote service's would, up to this machine's cores).
    """
    from lorien.testing.local_aws import moto_server

    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    if own_process:
        process = subprocess.Popen([sys.executable, "-m", "lorien.testing.local_aws", "--port", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            yield endpoint
        finally:
            process.terminate()
            process.wait(timeout=10)
        return
    with moto_server(port):
        yield endpoint


def aws_backend(endpoint: str, name: str) -> tuple[str, str]:
    """A DynamoDB store (with its job queue) and an S3 log store named ``name`` on the local
    server, created; returns their URIs."""
    from lorien.config import open_logs, open_queue, open_store

    store_uri = f"dynamodb://{name}?endpoint_url={endpoint}&region=us-east-1"
    logs_uri = f"s3://{name}/logs?endpoint_url={endpoint}&region=us-east-1"
    open_store(store_uri, create=True).close()
    open_queue(store_uri, create=True).close()
    open_logs(logs_uri, create=True).close()
    return store_uri, logs_uri
