"""A local server speaking DynamoDB's and S3's HTTP protocols (moto's), for backend tests."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's server on 127.0.0.1 (one request at a time, each atomic as on AWS) and yield
    its endpoint URL; stop it after."""
    from lorien.testing.local_aws import moto_server as serve

    with serve(free_port()) as endpoint:
        yield endpoint


def unique(name: str) -> str:
    """A fresh, valid table prefix or bucket name."""
    return f"{name}-{uuid.uuid4().hex[:12]}"
