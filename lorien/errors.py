"""Errors Lorien reports to its users.

Every error a user can cause (bad input, a missing record, an unreachable store) is a subclass of
:class:`LorienError`. The command line prints ``str(error)`` as one line and exits non-zero; the
service will map the same classes to 4xx answers. Anything else escaping is a bug.
"""

from __future__ import annotations


class LorienError(Exception):
    """Base class of every error meant for the user; its message is one clear line."""

    exit_code: int = 1


class InvalidInput(LorienError):
    """The caller gave something malformed: a target, a URI, a model name, a file."""

    exit_code = 2


class NotFound(LorienError):
    """A workload, record, model or log the caller named does not exist."""

    exit_code = 3


class StoreError(LorienError):
    """A store or log backend failed (unreachable, locked too long, corrupt)."""

    exit_code = 4


class TuningError(LorienError):
    """Tuning a workload could not produce a single valid measurement."""

    exit_code = 5


class WrongOutput(LorienError):
    """A built model's outputs differ from the reference's beyond the tolerance."""

    exit_code = 6
