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

    Targets arrive from clients, so an LLVM target is checked before TVM uses it: LLVM must know
    its ``mtriple`` and its ``mcpu`` (TVM accepts any string and LLVM crashes the process later on
    an unknown triple), ``num-cores`` must be from 1 to :data:`MAX_CORES`, and ``cl-opt`` is
    refused (it sets LLVM options for the whole process).

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
            raise InvalidInput(f"malformed target JSON {text[:200]!r}: {exc.msg}") from None
        except RecursionError:
            raise InvalidInput("target JSON nested too deeply") from None
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
        _check_llvm_config(config)
    if "host" in config:
        raise InvalidInput("a target with a separate 'host' target is not supported")
    return canonical_target(to_tvm_target_config(config))


#: The most cores a target may name.
MAX_CORES = 4096


def _check_llvm_config(config: dict[str, Any]) -> None:
    """Refuse what TVM accepts but LLVM crashes on or applies process-wide (see parse_target)."""
    from tvm.target import codegen

    if "cl-opt" in config:
        raise InvalidInput("targets with 'cl-opt' are refused: it sets LLVM options for the whole process")
    cores = config.get("num-cores")
    if not isinstance(cores, int) or isinstance(cores, bool) or not 1 <= cores <= MAX_CORES:
        raise InvalidInput(f"num-cores must be an integer from 1 to {MAX_CORES}, got {str(cores)[:40]}")
    triple = config.get("mtriple", str(codegen.llvm_get_system_triple()))
    if not isinstance(triple, str) or len(triple) > 200 or \
            triple.split("-")[0] not in _llvm_architectures() or not _llvm_knows(triple, "generic"):
        raise InvalidInput(f"LLVM does not know the target triple {str(triple)[:80]!r}")
    cpu = config.get("mcpu")
    if cpu is not None and (not isinstance(cpu, str) or len(cpu) > 100 or not _llvm_knows(triple, cpu)):
        raise InvalidInput(f"LLVM does not know the CPU {str(cpu)[:80]!r} for {triple}")


@functools.cache
def _llvm_architectures() -> frozenset[str]:
    from tvm.target import codegen

    return frozenset(str(name) for name in codegen.llvm_get_targets())


@functools.cache
def _llvm_knows(triple: str, cpu: str) -> bool:
    from tvm.target import codegen

    return bool(codegen.llvm_is_valid_cpu(cpu, triple))


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
