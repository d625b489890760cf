"""A dialect's roles: what it plays is known by its type, and asking for one it does not play is
one clear error before any work, not a method that raises halfway through."""

from __future__ import annotations

import inspect

import pytest

from lorien.dialects import (
    Builder,
    Dialect,
    Featurizer,
    Frontend,
    Measurer,
    Measuring,
    NativeDB,
    Proposer,
    Tuner,
    get_dialect,
    require,
)
from lorien.errors import InvalidInput
from lorien.records import Target
from lorien.testing.factories import CPU_A

ROLES = [Frontend, Tuner, Measurer, Featurizer, Proposer, Builder, NativeDB]


def test_the_tvm_dialect_plays_every_role() -> None:
    tvm = get_dialect("tvm")
    for role in ROLES:
        assert get_dialect("tvm", role) is tvm and require(tvm, role) is tvm


def test_the_instant_dialect_only_tunes_and_says_so_for_every_other_role() -> None:
    instant = get_dialect("instant")
    assert get_dialect("instant", Tuner) is instant and isinstance(instant, Measuring)
    expected = {Frontend: "read models", Measurer: "measure given schedules",
                Featurizer: "describe schedules as features", Proposer: "propose schedules",
                Builder: "build models", NativeDB: "read or write its compiler's tuning database"}
    for role, what in expected.items():
        with pytest.raises(InvalidInput, match=f"^the instant dialect cannot {what}$"):
            get_dialect("instant", role)


def test_a_dialect_declares_no_method_it_cannot_run() -> None:
    """Nothing on the instant dialect raises "not supported": every public method it has is its
    own, the core's, or its role's (the old single interface raised for seven)."""
    instant = type(get_dialect("instant"))
    allowed = {name for cls in (Dialect, Measuring, Tuner) for name in vars(cls)}
    public = {name for name, _ in inspect.getmembers(instant, callable) if not name.startswith("_")}
    assert public <= allowed, public - allowed


def test_the_core_interface_is_narrow() -> None:
    """What every dialect must be: its targets and build, and the checks of outside input."""
    abstract = set(Dialect.__abstractmethods__)
    assert abstract == {"parse_target", "build_id"}
    core = {name for name, value in vars(Dialect).items() if callable(value) and not name.startswith("_")}
    assert core == {"parse_target", "build_id", "equivalent_keys", "check_workload", "schedule_problem"}


def test_a_role_half_implemented_cannot_be_created() -> None:
    """A compiler implements a role whole or not at all: an abstract method left out is refused
    when the dialect is created (by :func:`get_dialect`), not when a caller reaches it."""

    class HalfBuilder(Builder):
        name = "half"

        def parse_target(self, text: str) -> Target:
            return CPU_A

        def build_id(self) -> str:
            return "half-1"

    with pytest.raises(TypeError, match="abstract"):
        HalfBuilder()  # type: ignore[abstract]
