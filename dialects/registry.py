"""Dialect discovery through the ``lorien.dialects`` entry-point group.

A compiler is added by a package that declares, in its ``pyproject.toml``::

    [project.entry-points."lorien.dialects"]
    mycompiler = "mypackage.dialect:MyDialect"

Nothing is imported until a dialect is asked for by name.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import TypeVar, overload

from lorien.dialects.base import Dialect
from lorien.dialects.roles import require
from lorien.errors import InvalidInput

R = TypeVar("R", bound=Dialect)

ENTRY_POINT_GROUP = "lorien.dialects"


def available_dialects() -> list[str]:
    """Names of the installed dialects, sorted."""
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


@overload
def get_dialect(name: str) -> Dialect: ...
@overload
def get_dialect(name: str, role: type[R]) -> R: ...
def get_dialect(name: str, role: type[Dialect] = Dialect) -> Dialect:
    """The process-wide instance of dialect ``name`` (created, and its compiler imported, once),
    as ``role`` (one of :mod:`lorien.dialects.roles`) when given.

    Raises:
        InvalidInput: no installed dialect has this name, or it does not play ``role``.
    """
    return require(_instance(name), role)


@functools.cache
def _instance(name: str) -> Dialect:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise InvalidInput(
            f"unknown dialect {name!r}; installed: {', '.join(available_dialects()) or 'none'}"
        )
    cls = found[0].load()
    if not (isinstance(cls, type) and issubclass(cls, Dialect)):
        raise InvalidInput(f"entry point {found[0].value!r} is not a Dialect subclass")
    return cls()
