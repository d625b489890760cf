"""boto3 clients for Lorien's AWS backends, and AWS failures as one-line :class:`StoreError`\\ s.

Credentials come only from boto3's default chain (environment, shared files, instance or task
role); Lorien never reads or stores them. Clients retry throttling and transient errors with
botocore's ``standard`` retry mode (exponential backoff with jitter, ``max_attempts`` tries), and
are safe to share between threads (a boto3 client is; sessions are not, so each client gets its
own session).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lorien.errors import InvalidInput, StoreError

#: Query parameters every AWS URI accepts.
CLIENT_OPTIONS = ("region", "endpoint_url", "max_attempts")

_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "UnrecognizedClientException",
                     "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "AccessDenied",
                     "AccessDeniedException"}
_MISSING_CODES = {"NoSuchBucket", "ResourceNotFoundException"}


def parse_aws_uri(uri: str, scheme: str, extra: tuple[str, ...] = ()) -> tuple[str, str, dict[str, str]]:
    """``scheme://NAME/PATH?options`` as ``(name, path, options)``.

    Raises:
        InvalidInput: another scheme, no name, or an unknown option.
    """
    parts = urlsplit(uri)
    if parts.scheme != scheme or not parts.netloc:
        raise InvalidInput(f"expected {scheme}://NAME[/prefix][?region=...&endpoint_url=...], got {uri!r}")
    options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = sorted(set(options) - set(CLIENT_OPTIONS) - set(extra))
    if unknown:
        raise InvalidInput(f"{uri!r}: unknown option {unknown[0]!r}; known: "
                           f"{', '.join((*CLIENT_OPTIONS, *extra))}")
    return parts.netloc, parts.path.strip("/"), options


def make_client(service: str, options: Mapping[str, str]) -> Any:
    """A boto3 client for ``service`` with the URI's region, endpoint and retry budget."""
    import boto3
    from botocore.config import Config

    try:
        attempts = int(options.get("max_attempts", "8"))
    except ValueError:
        raise InvalidInput(f"max_attempts must be an integer, got {options['max_attempts']!r}") from None
    config = Config(retries={"mode": "standard", "max_attempts": attempts},
                    connect_timeout=5, read_timeout=60, max_pool_connections=32)
    session = boto3.session.Session()
    region = options.get("region") or session.region_name or "us-east-1"
    return session.client(service, region_name=region, endpoint_url=options.get("endpoint_url"),
                          config=config)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for other exceptions)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def aws_error(exc: BaseException, what: str) -> StoreError:
    """One line for a failed AWS call: missing credentials, rejected credentials, a missing table
    or bucket, an unreachable endpoint, or the service's own message."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StoreError(f"{what}: no AWS credentials found (set them as boto3's default chain reads "
                          "them: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, or an instance role)")
    if isinstance(exc, EndpointConnectionError):
        return StoreError(f"{what}: cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code in _CREDENTIAL_CODES:
            return StoreError(f"{what}: AWS rejected the credentials or their permissions "
                              f"({code}: {message})")
        if code in _MISSING_CODES:
            return StoreError(f"{what}: {message or code} (run `lorien db init` to create it)")
        return StoreError(f"{what}: {code}: {message}")
    return StoreError(f"{what}: {type(exc).__name__}: {exc}")


def is_not_found(exc: BaseException) -> bool:
    """Whether a ClientError says the object or item asked for does not exist."""
    return error_code(exc) in {"404", "NoSuchKey", "NotFound"}

