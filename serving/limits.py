"""Bounds on request bodies, enforced before anything is parsed: their size, and JSON only."""

from __future__ import annotations

import json
from typing import Any

from lorien.serving.contract import send_json

#: The largest request body accepted: a batch of a large model's workloads fits (ResNet-50's 50
#: kernels take ~2 MB of payload).
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Media types BentoML reads as form fields instead of JSON.
FORM_MEDIA_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")


class BodySizeLimit:
    """ASGI middleware answering 413 to HTTP requests whose body is larger than ``max_bytes``,
    whether they declare it (``Content-Length``) or stream it; the application never sees them."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        # The whole body is read here, before the application sees any of it: an exception raised
        # from inside the application's ``receive`` would meet the application's own error handler
        # (BentoML answers 500 to any exception), never this middleware.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its whole body: nobody to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        await _answer_error(send, 413, "body_too_large", f"request body larger than {self.max_bytes} bytes")


class JsonBodiesOnly:
    """ASGI middleware answering 415 to HTTP requests with a form body (multipart or URL-encoded).

    BentoML parses such bodies as form fields rather than JSON, and answers 500 to one it cannot
    parse (a multipart body without a boundary); the service's bodies are JSON."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers") or []:
                media_type = value.split(b";")[0].strip().lower()
                if name.lower() == b"content-type" and media_type in FORM_MEDIA_TYPES:
                    await _answer_error(send, 415, "unsupported_media_type",
                                        f"unsupported media type {media_type.decode('latin-1')}: "
                                        "send JSON (Content-Type: application/json)")
                    return
        await self.app(scope, receive, send)


async def _answer_error(send: Any, status: int, reason: str, message: str) -> None:
    """Answer with the service's one error body (:data:`lorien.serving.contract.ERROR_SCHEMA`)."""
    await send_json(send, status, json.dumps({"error": message, "reason": reason}).encode())
