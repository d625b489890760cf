"""Checks a TVM object graph (what ``tvm.ir.save_json`` writes) before TVM's loader reads it.

TVM's loader (``tvm_ffi``'s ``FromJSONGraph``) trusts the graph's shape. It checks that a node index
is in range and that a field's value has the field's type, but it decodes references recursively
and remembers a node only once it is fully decoded, so:

* a cycle (a node that refers to itself, directly or through others) recurses until the C++ stack
  overflows and the process dies with SIGSEGV;
* a chain of a few thousand nested nodes does the same (measured: depth 2,000 loads, 5,000 crashes),
  and so would the recursive visitors (structural hashing, printing) on a deep graph that did load;
* an integer that TVM uses as an enumeration (a loop's kind) out of its range, accepted by the
  loader and crashing the printer;
* a null where TVM's code expects an object (an element of an array of expressions, a field that
  is not optional) is accepted by the loader, which checks element types but lets null through,
  and crashes whatever reads it later (found by random mutation: a null in a buffer's shape
  crashed printing and shape analysis).

:func:`check_object_graph` refuses all of these before TVM sees the text, in pure Python: every reference
must point to an earlier node (TVM writes children before their parents, so a cycle is impossible),
the reference depth is bounded far below what crashes (a real kernel's graph is about 30 deep), the
node count and integer widths are bounded (enumerations to their values), every node type is one
TVM has registered, decoded the way TVM will decode it (fields from TVM's own reflection tables),
and null appears only where TVM's own type schema allows it (an optional field, a source span) and
never inside a container.
What passes loads without crashing; what TVM then still refuses (a field of the wrong type, a
missing field) it refuses with a Python exception. Checking in process costs a few milliseconds
and gives a precise reason; a loader in a separate process would only move the crash, since the
service must then hold the kernel in its own process to predict for it.

Thread safety: pure functions; TVM's type tables are read once per process and cached.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from lorien.errors import InvalidInput

#: Nodes in one graph, at most (a large fused kernel has about 3,000).
MAX_NODES = 100_000
#: The longest chain of references from the root, at most (real kernels: about 30; TVM's loader
#: overflows its stack at a few thousand).
MAX_DEPTH = 512
#: Characters of one serialised graph, at most.
MAX_CHARS = 8_000_000
#: Characters of one string or data-type node, at most.
MAX_STRING = 100_000
_INT64 = (-(2**63), 2**63 - 1)

# tvm_ffi's static type indices (include/tvm/ffi/c_api.h) of the values a field holds inline.
_POD_NONE, _POD_INT, _POD_BOOL, _POD_FLOAT, _POD_DTYPE = 0, 1, 2, 3, 5
#: Node types whose ``data`` is not a field dictionary: how each is decoded.
_BUILTIN = {
    "None": "none", "bool": "bool", "int": "int", "float": "float", "DataType": "dtype",
    "Device": "device", "ffi.String": "str", "ffi.Bytes": "bytes", "ffi.Array": "refs",
    "ffi.List": "refs", "ffi.Map": "pairs", "ffi.Dict": "pairs", "ffi.Shape": "ints",
}
#: Object types TVM decodes with a function of their own, and what their ``data`` must be.
_CUSTOM = {"ir.Op": "str"}
#: Integer fields whose values TVM uses as enumerations or sizes without checking them (an
#: unknown loop kind crashed printing), and the values they may take.
_INT_RANGES = {
    ("tirx.For", "kind"): (0, 4),                  # ForKind: serial .. thread binding
    ("tirx.IterVar", "iter_type"): (0, 8),         # IterVarType: data parallel .. tensorized
    ("relax.ShapeType", "ndim"): (-1, 64),
    ("relax.TensorType", "ndim"): (-1, 64),
    ("tirx.BufferType", "data_alignment"): (1, 2**16),
    ("tirx.BufferType", "offset_factor"): (1, 2**16),
}


@dataclass(frozen=True)
class _TypeShape:
    """How TVM decodes an object type: its fields and which of them hold an inline value."""

    fields: dict[str, int]  # name -> static type index (POD kinds inline, anything else a reference)
    nullable: frozenset[str]  # reference fields that may be null
    custom: bool            # decoded by a function of the type's own


def check_object_graph(text: str, *, root_type: str = "ir.IRModule", what: str = "payload") -> None:
    """Raise :class:`InvalidInput` unless ``text`` is an object graph TVM can load without crashing.

    Args:
        text: the serialised graph (``tvm.ir.save_json``'s output).
        root_type: the type key the root node must have.
        what: how to name the text in the error.

    Raises:
        InvalidInput: with one line saying which node breaks which rule.
    """
    if len(text) > MAX_CHARS:
        raise InvalidInput(f"{what}: {len(text)} characters, more than {MAX_CHARS}")
    try:
        graph = json.loads(text, parse_constant=float)  # see _is_float_value
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{what}: not JSON ({str(exc)[:120]})") from None
    if not isinstance(graph, dict) or set(graph) - {"root_index", "nodes", "metadata"}:
        raise InvalidInput(f"{what}: not a TVM object graph (an object with root_index and nodes)")
    nodes, root = graph.get("nodes"), graph.get("root_index")
    if not isinstance(nodes, list) or not nodes:
        raise InvalidInput(f"{what}: nodes must be a non-empty list")
    if len(nodes) > MAX_NODES:
        raise InvalidInput(f"{what}: {len(nodes)} nodes, more than {MAX_NODES}")
    if not _is_int(root) or not 0 <= root < len(nodes):
        raise InvalidInput(f"{what}: root_index {root!r} is not a node")
    depth: list[int] = []
    for index, node in enumerate(nodes):
        refs, not_null = _references(index, node, what)
        for ref in refs:
            if not 0 <= ref < index:
                raise InvalidInput(f"{what}: node {index} refers to node {ref}; a node may only refer to "
                                   "an earlier one (cycles and forward references are refused)")
        for ref in not_null:
            if nodes[ref].get("type") == "None":
                raise InvalidInput(f"{what}: node {index} holds a null (node {ref}) where TVM needs "
                                   "an object")
        level = 1 + max((depth[ref] for ref in refs), default=0)
        if level > MAX_DEPTH:
            raise InvalidInput(f"{what}: node {index} is nested {level} deep, more than {MAX_DEPTH}")
        depth.append(level)
    if nodes[root].get("type") != root_type:
        raise InvalidInput(f"{what}: the root node is a {str(nodes[root].get('type'))[:80]!r}, "
                           f"not a {root_type}")


def _references(index: int, node: Any, what: str) -> tuple[list[int], list[int]]:
    """The node indices ``node`` refers to, after checking its inline values, and those of them
    that must not be null."""
    where = f"{what}: node {index}"
    if not isinstance(node, dict) or not isinstance(node.get("type"), str) or set(node) - {"type", "data"}:
        raise InvalidInput(f"{where} is not an object with a type (and data)")
    type_key, data = node["type"], node.get("data")
    kind = _BUILTIN.get(type_key)
    if kind is not None:
        refs = _builtin_references(kind, data, f"{where} ({type_key})")
        return refs, refs  # a container never holds a null (no real kernel's does)
    shape = _type_shape(type_key)
    if shape is None:
        raise InvalidInput(f"{where}: unknown node type {type_key[:80]!r}")
    if shape.custom:
        if _CUSTOM.get(type_key) == "str" and isinstance(data, str) and len(data) <= MAX_STRING:
            return [], []
        raise InvalidInput(f"{where}: node type {type_key!r} cannot be checked, so it is refused")
    if not isinstance(data, dict):
        raise InvalidInput(f"{where} ({type_key}): data must be an object of fields")
    refs, not_null = [], []
    for name, value in data.items():
        static = shape.fields.get(name)
        if static is None:
            raise InvalidInput(f"{where} ({type_key}): no field {str(name)[:80]!r}")
        if static == _POD_NONE:
            continue
        if static == _POD_BOOL:
            ok = isinstance(value, bool)
        elif static == _POD_INT:
            low, high = _INT_RANGES.get((type_key, name), _INT64)
            ok = _is_int(value) and low <= value <= high
        elif static == _POD_FLOAT:
            ok = _is_float_value(value)
        elif static == _POD_DTYPE:
            ok = isinstance(value, str) and len(value) <= 64
        else:
            if not _is_int(value):
                raise InvalidInput(f"{where} ({type_key}): field {name} must refer to a node")
            refs.append(value)
            if name not in shape.nullable:
                not_null.append(value)
            continue
        if not ok:
            raise InvalidInput(f"{where} ({type_key}): field {name} has a value of the wrong kind or size")
    return refs, not_null


def _builtin_references(kind: str, data: Any, where: str) -> list[int]:
    """The node indices a built-in node refers to, after checking its data."""
    if kind == "none":
        return []
    if kind == "refs" or kind == "pairs":
        if not isinstance(data, list) or not all(_is_int(x) for x in data):
            raise InvalidInput(f"{where}: data must be a list of node indices")
        if kind == "pairs" and len(data) % 2:
            raise InvalidInput(f"{where}: data must hold key, value pairs")
        return list(data)
    ok = {
        "bool": lambda: isinstance(data, bool),
        "int": lambda: _is_int(data) and _INT64[0] <= data <= _INT64[1],
        "float": lambda: _is_float_value(data),
        "dtype": lambda: isinstance(data, str) and len(data) <= 64,
        "device": lambda: isinstance(data, list) and len(data) == 2 and all(
            _is_int(x) and 0 <= x < 2**31 for x in data),
        "str": lambda: isinstance(data, str) and len(data) <= MAX_STRING,
        "bytes": lambda: isinstance(data, str) and len(data) <= MAX_STRING and _is_base64(data),
        "ints": lambda: isinstance(data, list) and len(data) <= 64 and all(
            _is_int(x) and _INT64[0] <= x <= _INT64[1] for x in data),
    }[kind]()
    if not ok:
        raise InvalidInput(f"{where}: data of the wrong kind or size")
    return []


@functools.cache
def _type_shape(type_key: str) -> _TypeShape | None:
    """TVM's decoding of an object type, from its reflection tables; None when not registered."""
    import tvm  # noqa: F401 - registers TVM's IR types with tvm_ffi
    from tvm_ffi import core

    index = core._object_type_key_to_index(type_key)
    if index is None or index < 64:
        return None
    info = core._type_index_to_type_info(index)
    fields: dict[str, int] = {}
    nullable = set()
    chain = []
    while info is not None:
        chain.append(info)
        info = info.parent_type_info
    for ancestor in reversed(chain):
        for field in ancestor.fields:
            fields[field.name] = int(field.field_static_type_index)
            if _may_be_null(field.metadata.get("type_schema")):
                nullable.add(field.name)
    custom = core._lookup_type_attr(index, "__data_from_json__") is not None
    return _TypeShape(fields, frozenset(nullable), custom)


#: Schema types whose fields hold null in TVM's own kernels besides ``Optional``: source spans,
#: a call's attributes.
_NULL_BY_CONVENTION = ("ir.Span", "ir.Attrs")


def _may_be_null(schema: Any) -> bool:
    """Whether a field with this type schema (TVM's reflection metadata) may hold null."""
    if not isinstance(schema, str):
        return True  # no schema: nothing to hold it to
    try:
        kind = json.loads(schema).get("type")
    except (ValueError, AttributeError):
        return True
    return kind in ("Optional", "Any", *_NULL_BY_CONVENTION)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float_value(value: Any) -> bool:
    """A float field's value: an integer in range, or any float. TVM's writer emits a non-finite
    ``FloatImm`` (the open bound of a clip, as in hard-swish: ``-inf``, ``inf``) as the bare
    constants ``-Infinity``, ``Infinity``, ``NaN``; the reader takes them as floats, so they are
    read as floats here too and allowed where a float goes, nowhere else."""
    return (_is_int(value) and abs(value) < 2**63) or isinstance(value, float)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


