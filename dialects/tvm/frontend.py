"""Models into Relax, and Relax lowered the way compilation lowers it (so every fused kernel is a
task with the same key the compiler hook will later be asked for)."""

from __future__ import annotations

import warnings
from typing import Any

import tvm
from tvm import relax

from lorien.dialects.base import TorchModel
from lorien.errors import InvalidInput


def to_relax(model: object) -> tvm.IRModule:
    """A Relax IRModule from a :class:`TorchModel` (through ``torch.export``) or a Relax IRModule.

    Raises:
        InvalidInput: anything else, or a torch module that does not export.
    """
    if isinstance(model, tvm.IRModule):
        if not _has_main(model):
            raise InvalidInput("a Relax IRModule model needs a 'main' function")
        return model
    if isinstance(model, TorchModel):
        return _from_torch(model)
    raise InvalidInput(
        f"the tvm dialect reads a Relax IRModule or a TorchModel, not {type(model).__name__}"
    )


def _has_main(mod: tvm.IRModule) -> bool:
    return any(gv.name_hint == "main" for gv in mod.get_global_vars())


def _from_torch(model: TorchModel) -> tvm.IRModule:
    import torch
    from tvm.relax.frontend.torch import from_exported_program

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            exported = torch.export.export(model.module, model.example_inputs)
            mod = from_exported_program(exported, keep_params_as_input=False)
    except Exception as exc:  # torch.export raises many types for unsupported modules
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot import model {model.name!r} from PyTorch: {message}") from exc
    return mod


def fusion_passes(target: tvm.target.Target) -> list[Any]:
    """The passes compilation runs before it consults the MetaSchedule database, in order."""
    try:
        dispatch = list(relax.pipeline.library_dispatch_passes(target))
    except (ValueError, AttributeError):
        dispatch = []
    return [
        *dispatch,
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ]


def lower_for_tuning(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """``mod`` with every operator legalised and fused into TIR kernels, as compilation does."""
    with target, tvm.transform.PassContext(opt_level=3):
        return tvm.transform.Sequential(fusion_passes(target))(mod)
