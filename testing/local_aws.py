"""moto's server on 127.0.0.1, answering one request at a time: a local stand-in for DynamoDB,
S3 and Batch, for the tests and the benchmarks (moto is a test dependency: nothing in the package
imports this module).

Why one at a time: moto's own threaded server runs requests concurrently without making each one
atomic. A conditional ``PutItem`` checks its condition and writes in two steps another request
can slip between, and a cancelled ``TransactWriteItems`` rolls back by restoring a copy of the
whole table taken when it began, erasing every write other requests made meanwhile. DynamoDB
makes each request atomic, and Lorien's stores and queues rely on it; serialising requests gives
the tests that guarantee, while clients still interleave their requests freely.

Thread safety: :class:`OneRequestAtATime` is safe to call from any number of server threads.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class OneRequestAtATime:
    """A WSGI application that runs ``app`` for one request at a time, its whole response body
    included (so that nothing of a request runs after the next one starts)."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            body = self._app(environ, start_response)
            try:
                return list(body)
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()


def _make_server(host: str, port: int) -> Any:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


@contextmanager
def moto_server(port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve moto on ``host:port`` from a thread of this process; yield its endpoint URL and stop
    the server on exit."""
    server = _make_server(host, port)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main(argv: list[str] | None = None) -> None:
    """``python -m lorien.testing.local_aws --port N``: serve moto in this process until killed."""
    parser = argparse.ArgumentParser(prog="python -m lorien.testing.local_aws",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _make_server(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
