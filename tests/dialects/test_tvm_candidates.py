"""Adapting another workload's schedule to a new kernel (real TVM, small convolutions)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from lorien.dialects import CandidateOptions, TorchModel, get_dialect
from lorien.dialects.tvm.candidates import nearest_tiling
from lorien.outputs import output_mismatch
from lorien.records import Latency, ScheduleRecord
from tests.tvm_models import outputs_with_schedule, pointwise_conv, sampled_schedules, small_conv


def wider_conv() -> TorchModel:
    """The same structure as :func:`small_conv` with extents its tiles do not divide: 16 -> 24
    channels, 15x15."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Conv2d(16, 24, 3, padding=1, bias=False).eval()
    return TorchModel(module, (torch.randn(1, 16, 15, 15),), name="wider_conv")


def tile_decisions(schedule: str) -> list[tuple[list[int], int]]:
    """Each SamplePerfectTile decision of a schedule with its innermost-factor limit."""
    insts, decisions = json.loads(schedule)
    return [([int(f) for f in decision], int(insts[index][2][1]))
            for index, decision in decisions if insts[index][0] == "SamplePerfectTile"]


def test_a_schedule_of_other_extents_is_retiled_onto_the_new_kernel() -> None:
    """The neighbour's tile sizes move to the nearest factorisation of this kernel's extents,
    instruction by instruction: the replay onto this kernel's own design space works (the trace
    cannot apply as it is: its tiles multiply to the other kernel's extents)."""
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    small, wider = (dialect.extract(dialect.load_model(model()), target)[0].workload
                    for model in (small_conv, wider_conv))
    for theirs in sampled_schedules(small, target, 3):
        found = dialect.candidates(wider, target, [theirs], None, CandidateOptions(samples=0, seed=0))
        assert len(found) == 1 and found.origins == ["neighbour"]
        [adapted] = found.schedules
        dialect.apply(wider, ScheduleRecord("tvm", wider.key, target, "b", adapted, Latency((1.0,))))
        ours = tile_decisions(adapted)
        their_tiles = [tiles for tiles, _ in tile_decisions(theirs)]
        # this kernel's loops (batch, 24 filters, 15 rows, 15 columns, 16 channels, 3, 3), not theirs
        assert sorted(math.prod(tiles) for tiles, _ in ours) == [1, 3, 3, 15, 15, 16, 24]
        for (tiles, max_inner), their in zip(ours, their_tiles, strict=True):
            assert tiles == nearest_tiling(math.prod(tiles), their, max_inner)


def test_a_schedule_of_another_structure_is_replayed_without_its_layout_rewrite(tmp_path: Path) -> None:
    """A 1x1 convolution's schedules fit no design space of a padded 3x3 one (no padding stage to
    place), so their traces are replayed as they are, re-tiled onto this kernel's loops, with the
    postprocessors run afresh: each computes what torch does. Their own layout rewrite, replayed,
    maps the 3x3 window's nine weights to one place (wrong outputs that build and run)."""
    from lorien.datasets.eager import torch_outputs

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    pointwise, conv = (dialect.extract(dialect.load_model(model()), target)[0].workload
                       for model in (pointwise_conv, small_conv))
    reference = torch_outputs(small_conv())
    theirs = sampled_schedules(pointwise, target, 3)
    found = dialect.candidates(conv, target, theirs, None, CandidateOptions(samples=0, seed=0))
    assert found.origins == ["neighbour"] * len(theirs)
    for number, adapted in enumerate(found.schedules):
        # this kernel's loops (batch, 16 filters, 14 rows, 14 columns, 16 channels, 3, 3)
        assert sorted(math.prod(tiles) for tiles, _ in tile_decisions(adapted)) == [1, 3, 3, 14, 14, 16, 16]
        (tmp_path / str(number)).mkdir()
        got = outputs_with_schedule(small_conv(), adapted, tmp_path / str(number))
        assert output_mismatch(got, reference) is None, number
