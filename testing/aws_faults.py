"""An HTTP proxy on 127.0.0.1 that injects AWS faults in front of moto's server.

Requests pass through unchanged, except those a rule matches: the rule answers instead, as AWS
would (DynamoDB's 400 ``ThrottlingException``, S3's 503 ``SlowDown``, a 500), for its first
``times`` matches (``None``: always). What the client sees is real HTTP, so botocore's own retry
logic is what gets tested.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

THROTTLE_DYNAMODB = (400, "application/x-amz-json-1.0",
                     b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
                     b'"message":"Rate of requests exceeds the allowed throughput."}')
THROTTLE_S3 = (503, "application/xml",
               b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
               b"<Message>Please reduce your request rate.</Message></Error>")
CANCELLED_BY_THROTTLING = (400, "application/x-amz-json-1.0",
                           b'{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",'
                           b'"message":"Transaction cancelled, please refer cancellation reasons '
                           b'for specific reasons [ThrottlingError]","CancellationReasons":'
                           b'[{"Code":"ThrottlingError","Message":"Throughput exceeds the current '
                           b'capacity of your table or index."}]}')
INTERNAL_DYNAMODB = (500, "application/x-amz-json-1.0",
                     b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError",'
                     b'"message":"Internal server error"}')
INTERNAL_S3 = (500, "application/xml",
               b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
               b"<Message>We encountered an internal error.</Message></Error>")


@dataclass
class FaultRule:
    """Answer requests for which ``matches(method, path, amz_target)`` holds with ``response``."""

    matches: Callable[[str, str, str], bool]
    response: tuple[int, str, bytes]
    times: int | None = 1
    injected: int = 0


def dynamodb_call(name: str) -> Callable[[str, str, str], bool]:
    return lambda method, path, target: target.endswith(f".{name}")


def s3_call(method_name: str) -> Callable[[str, str, str], bool]:
    return lambda method, path, target: method == method_name and not target


@contextmanager
def fault_proxy(upstream: str, rules: list[FaultRule]) -> Iterator[str]:
    """Start the proxy in front of ``upstream``; yields the proxy's endpoint URL."""
    up = urlsplit(upstream)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target", "")
            with lock:
                rule = next((r for r in rules if (r.times is None or r.injected < r.times)
                             and r.matches(self.command, self.path, target)), None)
                if rule is not None:
                    rule.injected += 1
            if rule is not None:
                status, content_type, payload = rule.response
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = up.netloc
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
