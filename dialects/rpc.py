"""Asking a TVM RPC tracker, quickly and without hanging, which devices it has under a key.

TVM's own client (``tvm.rpc.connect_tracker``) retries a refused connection for 60 s and reads
without a timeout, so this module speaks the tracker's small protocol itself: the tracker magic,
then one ``SUMMARY`` request, each message a little-endian int32 length and a JSON body. Every
socket operation has a timeout, and the whole query runs in a daemon thread joined with the
deadline, so name resolution cannot stall it either. Importing it imports no TVM.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from lorien.dialects.base import RPCEndpoint

#: ``tvm.rpc.base.RPC_TRACKER_MAGIC`` and ``TrackerCode`` values (stable wire protocol).
_TRACKER_MAGIC = 0x2F271
_CODE_SUCCESS = 0
_CODE_SUMMARY = 6
#: A summary larger than this is not a tracker talking.
_MAX_MESSAGE = 64 << 20


class TrackerError(Exception):
    """The tracker could not be asked; the message is one line for a worker's log."""


@dataclass(frozen=True)
class TrackerStatus:
    """Devices a tracker has under one key.

    Attributes:
        registered: servers connected to the tracker under the key, free or busy.
        free: of those, how many wait for a session now.
        pending: session requests queued for the key (clients waiting for a device).
    """

    registered: int
    free: int
    pending: int


def tracker_status(endpoint: RPCEndpoint, timeout_s: float = 5.0) -> TrackerStatus:
    """Ask the tracker about ``endpoint.key``; returns within about ``timeout_s`` seconds.

    Raises:
        TrackerError: unreachable, timed out, or something that is not a TVM tracker answered.
    """
    result: list[Any] = []

    def query() -> None:
        try:
            result.append(_summary(endpoint, time.monotonic() + timeout_s))
        except BaseException as exc:  # handed to the caller's thread
            result.append(exc)

    worker = threading.Thread(target=query, name=f"rpc-tracker-{endpoint.port}", daemon=True)
    worker.start()
    worker.join(timeout_s + 0.5)
    where = f"RPC tracker {endpoint.host}:{endpoint.port}"
    if not result:
        raise TrackerError(f"{where} did not answer within {timeout_s:g} s")
    outcome = result[0]
    if isinstance(outcome, TrackerError):
        raise TrackerError(f"{where} {outcome}")
    if isinstance(outcome, TimeoutError | socket.timeout):
        raise TrackerError(f"{where} did not answer within {timeout_s:g} s")
    if isinstance(outcome, OSError):
        reason = outcome.strerror or str(outcome) or type(outcome).__name__
        raise TrackerError(f"{where} is unreachable ({reason})")
    if isinstance(outcome, BaseException):
        raise TrackerError(f"{where} gave an unreadable answer ({type(outcome).__name__}: "
                           f"{_one_line(outcome)})")
    return _status_of(outcome, endpoint.key)


def tracker_problem(endpoint: RPCEndpoint, timeout_s: float = 5.0) -> str | None:
    """Why nothing can be measured on ``endpoint`` now, in one line, or None when the tracker
    lists at least one device under the key (free or busy). Never raises, never hangs."""
    try:
        status = tracker_status(endpoint, timeout_s)
    except TrackerError as exc:
        return str(exc)
    except Exception as exc:  # a probe answers in a line, whatever happened
        return f"RPC tracker {endpoint.host}:{endpoint.port}: {type(exc).__name__}: {_one_line(exc)}"
    if status.registered == 0:
        return (f"no device registered under key {endpoint.key!r} at tracker "
                f"{endpoint.host}:{endpoint.port}")
    return None


def free_devices(endpoint: RPCEndpoint, timeout_s: float = 5.0) -> int:
    """How many devices under the key are free now (0 when the tracker cannot be asked)."""
    try:
        return tracker_status(endpoint, timeout_s).free
    except TrackerError:
        return 0


def _summary(endpoint: RPCEndpoint, deadline: float) -> Any:
    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    with socket.create_connection((endpoint.host, endpoint.port), timeout=remaining()) as sock:
        sock.settimeout(remaining())
        sock.sendall(struct.pack("<i", _TRACKER_MAGIC))
        (magic,) = struct.unpack("<i", _recv(sock, 4, remaining))
        if magic != _TRACKER_MAGIC:
            raise TrackerError("is not a TVM RPC tracker (wrong magic)")
        body = json.dumps([_CODE_SUMMARY]).encode()
        sock.sendall(struct.pack("<i", len(body)) + body)
        (size,) = struct.unpack("<i", _recv(sock, 4, remaining))
        if not 0 < size <= _MAX_MESSAGE:
            raise TrackerError(f"is not a TVM RPC tracker (message of {size} bytes)")
        reply = json.loads(_recv(sock, size, remaining).decode("utf-8"))
    if not (isinstance(reply, list) and len(reply) == 2 and reply[0] == _CODE_SUCCESS):
        raise TrackerError(f"refused the summary request ({_one_line(reply)})")
    return reply[1]


def _recv(sock: socket.socket, nbytes: int, remaining: Any) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < nbytes:
        sock.settimeout(remaining())
        chunk = sock.recv(min(nbytes - got, 1 << 16))
        if not chunk:
            raise ConnectionResetError("the tracker closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _status_of(summary: Any, key: str) -> TrackerStatus:
    """The key's counts from a tracker summary: ``{"server_info": [{"key": "server:KEY", ...}],
    "queue_info": {KEY: {"free": n, "pending": m}}}``."""
    if not isinstance(summary, dict):
        raise TrackerError(f"gave an unreadable summary ({_one_line(summary)})")
    servers = summary.get("server_info") or []
    registered = sum(
        1 for s in servers
        if isinstance(s, dict) and str(s.get("key", "")).split(":", 1)[-1] == key
    )
    queue = (summary.get("queue_info") or {}).get(key) or {}
    return TrackerStatus(registered, int(queue.get("free", 0)), int(queue.get("pending", 0)))


def _one_line(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
