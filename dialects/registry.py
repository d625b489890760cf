"""Dialect discovery through the ``lorien.dialects`` entry-point group.

A compiler is added by a package that declares, in its ``pyproject.toml``::

    [project.entry-points."lorien.dialects"]
    mycompiler = "mypackage.dialect:MyDialect"

Nothing is imported until a dialect is asked for by name.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from lorien.dialects.base import Dialect
from lorien.errors import InvalidInput

ENTRY_POINT_GROUP = "lorien.dialects"


def available_dialects() -> list[str]:
    """Names of the installed dialects, sorted."""
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


@functools.cache
def get_dialect(name: str) -> Dialect:
    """The process-wide instance of dialect ``name`` (created, and its compiler imported, once).

    Raises:
        InvalidInput: no installed dialect has this name.
    """
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise InvalidInput(
            f"unknown dialect {name!r}; installed: {', '.join(available_dialects()) or 'none'}"
        )
    cls = found[0].load()
    if not (isinstance(cls, type) and issubclass(cls, Dialect)):
        raise InvalidInput(f"entry point {found[0].value!r} is not a Dialect subclass")
    return cls()
