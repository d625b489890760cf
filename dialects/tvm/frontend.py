"""Models into Relax: ``torch.export`` and TVM's exported-program importer, or a Relax module as is.
How Relax then becomes kernels is :mod:`lorien.dialects.tvm.lowering`."""

from __future__ import annotations

import warnings

import tvm

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
