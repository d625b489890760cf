"""TVM targets: the user's words in, one canonical JSON dict out."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import tvm

from lorien.errors import InvalidInput
from lorien.records import Target

_HOST_ALIASES = ("host", "llvm", "cpu")


@functools.cache
def host_cpu() -> str:
    """The host CPU as LLVM names it (e.g. ``skylake-avx512``)."""
    return str(tvm.target.codegen.llvm_get_system_cpu())


def host_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def host_target_config() -> dict[str, Any]:
    """This machine's CPU as a TVM target dict (host CPU and core count filled in)."""
    return {"kind": "llvm", "mcpu": host_cpu(), "num-cores": host_cores()}


def parse_target(text: str) -> Target:
    """Canonicalise ``host``/``llvm``/``cpu``, a target kind name, or a TVM JSON target dict.

    LLVM targets without ``mcpu`` (and without ``mtriple``, i.e. not cross-compiling) get the host
    CPU, and without ``num-cores`` the host's core count: TVM compiles generic, several times
    slower x86-64 code without the first, and MetaSchedule needs the second.

    Raises:
        InvalidInput: the text is not valid JSON or TVM rejects the target.
    """
    text = text.strip()
    if not text:
        raise InvalidInput("empty target; use 'host' or a TVM JSON target such as "
                           '\'{"kind": "llvm", "mcpu": "skylake"}\'')
    if text in _HOST_ALIASES:
        config: dict[str, Any] = host_target_config()
    elif text.startswith("{"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"malformed target JSON {text!r}: {exc.msg}") from None
        if not isinstance(config, dict) or "kind" not in config:
            raise InvalidInput(f"a target JSON must be an object with a 'kind', got {text!r}")
    elif all(ch.isalnum() or ch in "-_" for ch in text):
        config = {"kind": text}
    else:
        raise InvalidInput(
            f"cannot read target {text!r}; use 'host', a kind such as 'cuda', or a JSON dict "
            'such as \'{"kind": "llvm", "mcpu": "skylake", "num-cores": 4}\''
        )
    if config.get("kind") == "llvm":
        if "mcpu" not in config and "mtriple" not in config:
            config["mcpu"] = host_cpu()
        config.setdefault("num-cores", host_cores())
    return canonical_target(to_tvm_target_config(config))


def to_tvm_target_config(config: dict[str, Any]) -> tvm.target.Target:
    try:
        return tvm.target.Target(config)
    except (ValueError, TypeError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"invalid target {json.dumps(config)}: {first_line}") from None


def canonical_target(target: tvm.target.Target) -> Target:
    """Lorien's :class:`Target` of a TVM target: its JSON dict, keys sorted, empty tag dropped."""
    config = json.loads(str(target))
    if not config.get("tag"):
        config.pop("tag", None)
    keys = [str(k) for k in config.get("keys", [])]
    device = "gpu" if "gpu" in keys else (keys[0] if keys else "any")
    return Target(
        canonical=json.dumps(config, sort_keys=True, separators=(",", ":")),
        loose_key=f"{config['kind']}_{device}",
    )


def to_tvm_target(target: Target) -> tvm.target.Target:
    """The TVM target of a canonical :class:`Target`."""
    return to_tvm_target_config(json.loads(target.canonical))
