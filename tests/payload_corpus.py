"""Hostile kernel payloads and schedules: structure-aware mutations of a real shipped workload.

Each entry is one class of input that crashed (SIGSEGV) or could crash TVM's readers before Lorien
checked them, or that TVM reads into something Lorien must refuse. The tests send them through
every path that loads compiler objects from outside.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from lorien.records import Workload

Graph = dict[str, Any]


#: Targets TVM accepts but that crash LLVM later (an unknown triple: SIGSEGV while generating
#: candidates), change the whole process (``cl-opt``), or make no sense; by class.
HOSTILE_TARGETS = {
    "unknown-triple": '{"kind": "llvm", "mtriple": "garbage-triple"}',
    "unknown-cpu": '{"kind": "llvm", "mcpu": "bogus"}',
    "process-wide-llvm-options": '{"kind": "llvm", "cl-opt": ["-bogus-flag=1"]}',
    "no-cores": '{"kind": "llvm", "num-cores": 0}',
    "nested-host": '{"kind": "llvm", "host": "llvm"}',
    "deeply-nested": '{"kind": "llvm", "host": ' * 3000 + '"llvm"' + "}" * 3000,
}


def shipped_workload_and_schedule() -> tuple[Workload, str]:
    """The first shipped plain conv2d workload (by key) and its first measured schedule."""
    logs = resources.files("lorien.datasets") / "tuning_logs" / "tvm"
    for folder in sorted((p for p in logs.iterdir() if p.is_dir()), key=lambda p: p.name):
        logs_of_workload = (p for p in folder.iterdir() if p.name.endswith(".jsonl.gz"))
        for log in sorted(logs_of_workload, key=lambda p: p.name):
            with gzip.open(str(log), "rt") as lines:
                header = json.loads(next(lines))
                if not header["workload"]["name"].startswith("conv2d("):
                    break
                schedule = next(json.loads(line)["schedule"] for line in lines
                                if json.loads(line).get("schedule"))
            return Workload.from_dict(header["workload"]), schedule
    raise AssertionError("no shipped conv2d tuning log")


def _mutant(graph: Graph, change: Callable[[Graph, list[dict[str, Any]]], None]) -> str:
    mutated = copy.deepcopy(graph)
    change(mutated, mutated["nodes"])
    return json.dumps(mutated)


def _first(nodes: list[dict[str, Any]], type_key: str) -> int:
    return next(i for i, n in enumerate(nodes) if n["type"] == type_key)


def _deep_chain(graph: Graph, nodes: list[dict[str, Any]], depth: int = 4000) -> None:
    base = len(nodes)
    nodes.append({"type": "ffi.Array", "data": []})
    nodes.extend({"type": "ffi.Array", "data": [base + i]} for i in range(depth))
    graph["root_index"] = len(nodes) - 1


def hostile_payloads(workload: Workload) -> dict[str, str]:
    """Mutated payloads by crash class; none may crash a process that reads them through Lorien."""
    graph: Graph = json.loads(workload.payload)
    root = graph["root_index"]
    array = _first(graph["nodes"], "ffi.Array")
    intimm = _first(graph["nodes"], "ir.IntImm")
    glob = _first(graph["nodes"], "ir.GlobalVar")
    loop = _first(graph["nodes"], "tirx.For")
    last = len(graph["nodes"]) - 1
    return {
        # SIGSEGV before the checks: the loader recurses forever, or too deep.
        "self-reference": _mutant(graph, lambda g, n: n.__setitem__(array, {"type": "ffi.Array",
                                                                            "data": [array]})),
        "field-cycle": _mutant(graph, lambda g, n: n[glob]["data"].__setitem__("ty", glob)),
        "root-cycle": _mutant(graph, lambda g, n: n[root]["data"].__setitem__("functions", root)),
        "two-node-cycle": _mutant(graph, lambda g, n: (n[array]["data"].append(last),
                                                       n[last]["data"].__setitem__("functions", array))),
        "deep-chain": _mutant(graph, _deep_chain),
        # Loaded by TVM, then crashes whatever reads it (printing, shape analysis): a null inside
        # an array of expressions (found by random mutation).
        "null-in-shape": _mutant(graph, lambda g, n: n[intimm].__setitem__("type", "None")),
        # Refused by the checks before TVM sees them (TVM itself would raise or misread).
        "forward-reference": _mutant(graph, lambda g, n: n[intimm]["data"].__setitem__("ty", last)),
        "negative-reference": _mutant(graph, lambda g, n: n[array]["data"].append(-1)),
        "truncated": _mutant(graph, lambda g, n: n.__delitem__(slice(len(n) // 2, None))),
        "unknown-type": _mutant(graph, lambda g, n: n[intimm].__setitem__("type", "bogus.Node")),
        "wrong-node-type": _mutant(graph, lambda g, n: n[array].__setitem__("type", "ffi.Shape")),
        "huge-integer": _mutant(graph, lambda g, n: n[_first(n, "int")].__setitem__("data", 2**70)),
        "root-not-a-module": _mutant(graph, lambda g, n: g.__setitem__("root_index", array)),
        "null-field": _mutant(graph, lambda g, n: n[glob]["data"].__setitem__("name_hint", 0)),
        "unknown-loop-kind": _mutant(graph, lambda g, n: n[loop]["data"].__setitem__("kind", 151)),
        "not-a-graph": json.dumps({"nodes": 1}),
        "not-json": workload.payload[: len(workload.payload) // 2],
        # Loads, but is not a kernel Lorien can schedule: negative and enormous extents.
        "negative-extent": _mutant(graph, lambda g, n: _set_first_shape_dim(n, -56)),
        "enormous-extent": _mutant(graph, lambda g, n: _set_first_shape_dim(n, 2**40)),
    }


def _set_first_shape_dim(nodes: list[dict[str, Any]], value: int) -> None:
    shape = _first(nodes, "relax.ShapeType")
    first_dim = nodes[nodes[shape]["data"]["values"]]["data"][0]
    nodes[nodes[first_dim]["data"]["value"]]["data"] = value


def hostile_schedules(schedule: str) -> dict[str, str]:
    """Mutated traces by class: the nulls crash TVM's trace reader in a plain process (SIGSEGV);
    the others make it raise."""
    trace = json.loads(schedule)

    def mutant(change: Callable[[list[Any], list[Any]], None]) -> str:
        insts, decisions = copy.deepcopy(trace)
        change(insts, decisions)
        return json.dumps([insts, decisions])

    def index(name: str) -> int:
        return next(i for i, inst in enumerate(trace[0]) if inst[0] == name)

    return {
        "null-attribute": mutant(lambda i, d: i[index("Split")][2].__setitem__(0, None)),
        "null-block-name": mutant(lambda i, d: i[index("GetSBlock")][2].__setitem__(0, None)),
        "decision-on-wrong-instruction": mutant(lambda i, d: d[0].__setitem__(0, 1)),
        "null-decision": mutant(lambda i, d: d[0].__setitem__(1, None)),
        "not-a-trace": json.dumps({"insts": []}),
        "unknown-instruction": mutant(lambda i, d: i[0].__setitem__(0, "Bogus")),
    }


def random_mutants(workload: Workload, count: int, seed: int) -> list[str]:
    """``count`` random mutants of a real payload: node types swapped, references and values
    changed, the root moved (1 to 3 changes each), as a fuzzer would make them."""
    import random

    rng = random.Random(seed)
    graph: Graph = json.loads(workload.payload)
    size = len(graph["nodes"])
    types = sorted({n["type"] for n in graph["nodes"]} | {"ffi.Shape", "ffi.Bytes", "ffi.List", "ffi.Dict",
                                                           "float", "bool", "None", "DataType", "Device"})
    values: list[Any] = [0, 1, -1, 2**31, -(2**31), 2**63 - 1, -(2**63), 2**64, 3.5, "x", "", "float32",
                         None, True, [], [0], {}, [1, 2]]
    mutants = []
    for _ in range(count):
        mutated = copy.deepcopy(graph)
        nodes = mutated["nodes"]
        for _ in range(rng.randint(1, 3)):
            node = nodes[rng.randrange(size)]
            data, change = node.get("data"), rng.randrange(5)
            if change == 0:
                node["type"] = rng.choice(types)
            elif change == 1 and isinstance(data, dict) and data:
                data[rng.choice(list(data))] = rng.choice([rng.randrange(size), rng.choice(values)])
            elif change == 2 and isinstance(data, list) and data:
                data[rng.randrange(len(data))] = rng.choice([rng.randrange(size), rng.choice(values)])
            elif change == 3:
                node["data"] = rng.choice([*values, rng.randrange(size)])
            else:
                mutated["root_index"] = rng.choice([rng.randrange(size), size - 1])
        mutants.append(json.dumps(mutated))
    return mutants
